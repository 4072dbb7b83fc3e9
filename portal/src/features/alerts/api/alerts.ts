// The alerts feature's server state: ReconcileService's alerts (admin only)
// through TanStack Query. Polled every 10 s; TanStack Query does not poll a
// hidden tab (refetchIntervalInBackground is off), and nothing polls after
// the server has said PERMISSION_DENIED.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { api, call } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import type { ListAlertsResponse, ReconcileAlert } from "@/lib/api/types";
import { queryKeys } from "@/lib/queryKeys";
import { listAlertsQuery, withAlert, type AlertsFilter } from "../model";

export const POLL_MS = 10_000;
/** The badge counts up to this many open alerts, then shows "100+". */
const COUNT_PAGE_SIZE = 100;

export function isPermissionDenied(error: unknown): boolean {
  return error instanceof ApiError && error.code === "PERMISSION_DENIED";
}

const pollUnlessDenied = (query: { state: { error: unknown } }) =>
  isPermissionDenied(query.state.error) ? false : POLL_MS;

type AlertPages = InfiniteData<ListAlertsResponse, string>;

/** The filter's alerts, newest first, a page at a time ("Load more"). */
export function useAlerts(filter: AlertsFilter) {
  return useInfiniteQuery<ListAlertsResponse, ApiError, AlertPages, readonly unknown[], string>({
    queryKey: queryKeys.alerts.list({ ...filter }),
    queryFn: ({ pageParam }) =>
      call(api.GET("/api/reconcile/alerts", { params: { query: listAlertsQuery(filter, pageParam) } })),
    initialPageParam: "",
    getNextPageParam: (last) => last.nextPageToken || undefined,
    refetchInterval: pollUnlessDenied,
  });
}

export interface OpenAlertCount {
  count: number;
  /** More are open than one page holds. */
  more: boolean;
}

/** How many alerts are open, for the nav badge. Pass `enabled: false` for someone who may not see them. */
export function useOpenAlertCount(enabled = true) {
  return useQuery<OpenAlertCount, ApiError>({
    queryKey: queryKeys.alerts.openCount,
    queryFn: async () => {
      const page = await call(
        api.GET("/api/reconcile/alerts", {
          params: { query: { state: ["ALERT_STATE_OPEN"], page_size: COUNT_PAGE_SIZE } },
        }),
      );
      return { count: page.alerts?.length ?? 0, more: Boolean(page.nextPageToken) };
    },
    enabled,
    refetchInterval: pollUnlessDenied,
  });
}

/**
 * Acknowledge one alert. The answer (the alert, now acknowledged, with who
 * and when) replaces it in every loaded list at once; then the lists and
 * the count are fetched again.
 */
export function useAcknowledgeAlert() {
  const queryClient = useQueryClient();
  return useMutation<ReconcileAlert, ApiError, string>({
    mutationFn: (alertId) =>
      call(
        api.POST("/api/reconcile/alerts/{alert_id}:acknowledge", { params: { path: { alert_id: alertId } }, body: {} }),
      ).then((reply) => reply.alert ?? {}),
    onSuccess: (alert) => {
      queryClient.setQueriesData<AlertPages>({ queryKey: queryKeys.alerts.lists }, (data) => withAlert(data, alert));
    },
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: queryKeys.alerts.all });
    },
  });
}
