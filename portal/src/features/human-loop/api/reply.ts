// Answering a request: POST /api/runs/{runId}/human-loop/{questionId}/reply.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import { api, call } from "@/lib/api/client";
import type { ApiError } from "@/lib/api/errors";
import type { HumanLoopAnswer, ReplyResponse } from "@/lib/api/types";
import { queryKeys } from "@/lib/queryKeys";
import { newRequestId } from "../model";

/**
 * Send an answer. The same answer sent again (a retry after a lost
 * response) reuses its request id, so the server recognises it; a different
 * answer gets a new one.
 */
export function useReply(runId: string, questionId: string) {
  const queryClient = useQueryClient();
  const ids = useRef(new Map<string, string>());
  return useMutation<ReplyResponse, ApiError, HumanLoopAnswer>({
    mutationFn: (answer) => {
      const key = JSON.stringify(answer);
      let requestId = ids.current.get(key);
      if (requestId === undefined) {
        requestId = newRequestId();
        ids.current.set(key, requestId);
      }
      return call(
        api.POST("/api/runs/{run_id}/human-loop/{question_id}/reply", {
          params: { path: { run_id: runId, question_id: questionId } },
          body: { ...answer, requestId },
        }),
      );
    },
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: queryKeys.humanLoop.all });
      void queryClient.invalidateQueries({ queryKey: queryKeys.runs.detail(runId) });
    },
  });
}
