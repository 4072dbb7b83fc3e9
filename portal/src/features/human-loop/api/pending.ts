import { useQuery } from "@tanstack/react-query";
import { api, call } from "@/lib/api/client";
import { queryKeys } from "@/lib/queryKeys";

/**
 * Requests waiting for an answer, once (GET /api/human-loop/pending). For a
 * live view use `useHumanLoopFeed()`, which follows GET /api/human-loop/events.
 */
export function usePendingRequests() {
  return useQuery({
    queryKey: queryKeys.humanLoop.pending,
    queryFn: () => call(api.GET("/api/human-loop/pending")),
  });
}
