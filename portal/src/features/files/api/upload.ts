// Uploads: the gateway's own route, POST /api/workspaces/{id}/files:upload
// with the raw file as the body (streamed into the UploadFile RPC). Sent with
// XMLHttpRequest for its upload progress; same origin, so the session cookie
// and the Origin header go along.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { notifyUnauthorized } from "@/lib/api/client";
import { ApiError, apiErrorFromStatus, networkError } from "@/lib/api/errors";
import type { UploadFileResponse } from "@/lib/api/types";
import { invalidateWorkspace } from "./workspaces";

export interface UploadVars {
  file: Blob;
  /** Where it goes, relative to the workspace root. */
  path: string;
  expectedVersion: number;
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

export function uploadUrl(workspaceId: string, vars: { path: string; expectedVersion: number; size: number; requestId: string }) {
  const query = new URLSearchParams({
    path: vars.path,
    expectedVersion: String(vars.expectedVersion),
    size: String(vars.size),
    requestId: vars.requestId,
  });
  return `/api/workspaces/${encodeURIComponent(workspaceId)}/files:upload?${query}`;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** One upload; resolves with UploadFileResponse or rejects with an ApiError. */
export function uploadFile(
  workspaceId: string,
  vars: UploadVars,
  onProgress: (progress: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<UploadFileResponse> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const url = uploadUrl(workspaceId, {
      path: vars.path,
      expectedVersion: vars.expectedVersion,
      size: vars.file.size,
      requestId: crypto.randomUUID(),
    });
    xhr.open("POST", url);
    xhr.setRequestHeader("content-type", "application/octet-stream");
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.onprogress = (event) => {
      onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : vars.file.size });
    };
    xhr.onload = () => {
      const body = parse(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve((body ?? {}) as UploadFileResponse);
        return;
      }
      if (xhr.status === 401) notifyUnauthorized();
      reject(apiErrorFromStatus(body, xhr.status));
    };
    xhr.onerror = () => reject(networkError(new Error("upload failed")));
    xhr.onabort = () =>
      reject(new ApiError({ code: "CANCELLED", message: "The upload was canceled.", httpStatus: null }));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(vars.file);
  });
}

/** An upload as a mutation, with its progress and a way to cancel it. */
export function useUpload(workspaceId: string) {
  const queryClient = useQueryClient();
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const controller = useRef<AbortController | null>(null);
  const mutation = useMutation<UploadFileResponse, ApiError, UploadVars>({
    mutationFn: (vars) => {
      controller.current = new AbortController();
      setProgress({ loaded: 0, total: vars.file.size });
      return uploadFile(workspaceId, vars, setProgress, controller.current.signal);
    },
    onSettled: () => {
      controller.current = null;
      setProgress(null);
      invalidateWorkspace(queryClient, workspaceId);
    },
  });
  return { ...mutation, progress, cancel: () => controller.current?.abort() };
}
