import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { onUnauthorized } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { queryKeys } from "@/lib/queryKeys";
import { RailProvider } from "@/components/Rail";

function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A 4xx will answer the same again; retry only what may heal.
        retry: (failures, error) =>
          failures < 2 && !(error instanceof ApiError && error.httpStatus !== null && error.httpStatus < 500),
        refetchOnWindowFocus: false,
      },
    },
  });
}

export function AppProviders({ children }: { children: ReactNode }) {
  const [queryClient] = useState(createQueryClient);
  // Any 401 signs the person out here; RequireSession then sends them to sign-in.
  useEffect(() => onUnauthorized(() => queryClient.setQueryData(queryKeys.session, null)), [queryClient]);
  return (
    <QueryClientProvider client={queryClient}>
      <RailProvider>{children}</RailProvider>
    </QueryClientProvider>
  );
}
