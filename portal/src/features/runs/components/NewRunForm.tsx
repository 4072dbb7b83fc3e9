// Start a run: the prompt, where it runs and how the agent may act.
import { useId, useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { useSession } from "@/features/auth";
import { ApiError, toApiError } from "@/lib/api/errors";
import type { ApprovalMode, CreateRunRequest, ReasoningEffort, RunSettings, SandboxMode, ThreadMode } from "@/lib/api/types";
import { useCreateRun, useWorkspaceChoices } from "../api/runs";
import { EFFORT_LABELS, SANDBOX_LABELS, secondsToDuration } from "../logic/runInfo";

const APPROVAL_CHOICES: [ApprovalMode, string][] = [
  ["APPROVAL_MODE_UNSPECIFIED", "default"],
  ["APPROVAL_MODE_NEVER", "never"],
  ["APPROVAL_MODE_ON_REQUEST", "on request"],
  ["APPROVAL_MODE_UNTRUSTED", "untrusted"],
];
const SANDBOX_CHOICES: SandboxMode[] = [
  "SANDBOX_MODE_UNSPECIFIED",
  "SANDBOX_MODE_READ_ONLY",
  "SANDBOX_MODE_WORKSPACE_WRITE",
  "SANDBOX_MODE_DANGER_FULL_ACCESS",
];
const EFFORT_CHOICES: ReasoningEffort[] = [
  "REASONING_EFFORT_UNSPECIFIED",
  "REASONING_EFFORT_NONE",
  "REASONING_EFFORT_MINIMAL",
  "REASONING_EFFORT_LOW",
  "REASONING_EFFORT_MEDIUM",
  "REASONING_EFFORT_HIGH",
  "REASONING_EFFORT_XHIGH",
];
const THREAD_CHOICES: [ThreadMode, string][] = [
  ["THREAD_MODE_UNSPECIFIED", "default (persistent)"],
  ["THREAD_MODE_PERSISTENT", "persistent"],
  ["THREAD_MODE_STATELESS", "stateless"],
];

const newRequestId = () => crypto.randomUUID();

export function NewRunForm() {
  const id = useId();
  const navigate = useNavigate();
  const workspaces = useWorkspaceChoices();
  const createRun = useCreateRun();
  // Full access is an admin's grant to the tenant; offer it only when granted.
  const fullAccess = useSession().data?.fullAccess ?? false;
  const [prompt, setPrompt] = useState("");
  const [workspaceId, setWorkspaceId] = useState("");
  const [approvalMode, setApprovalMode] = useState<ApprovalMode>("APPROVAL_MODE_UNSPECIFIED");
  const [sandboxMode, setSandboxMode] = useState<SandboxMode>("SANDBOX_MODE_UNSPECIFIED");
  const [reasoningEffort, setReasoningEffort] = useState<ReasoningEffort>("REASONING_EFFORT_UNSPECIFIED");
  const [threadMode, setThreadMode] = useState<ThreadMode>("THREAD_MODE_UNSPECIFIED");
  const [timeout, setTimeoutSeconds] = useState("");
  const [requireHumanLoop, setRequireHumanLoop] = useState(false);
  // One id per run to start: a double submit returns the same run.
  const [requestId, setRequestId] = useState(newRequestId);
  const [formError, setFormError] = useState<ApiError | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (createRun.isPending) return;
    setFormError(null);
    if (prompt.trim() === "") {
      setFormError(new ApiError({ code: "INVALID_ARGUMENT", message: "Write a prompt first.", httpStatus: null }));
      return;
    }
    let humanLoopTimeout: string | null;
    try {
      humanLoopTimeout = secondsToDuration(timeout);
    } catch (error) {
      setFormError(new ApiError({ code: "INVALID_ARGUMENT", message: (error as Error).message, httpStatus: null }));
      return;
    }
    const settings: RunSettings = {};
    if (approvalMode !== "APPROVAL_MODE_UNSPECIFIED") settings.approvalMode = approvalMode;
    if (sandboxMode !== "SANDBOX_MODE_UNSPECIFIED") settings.sandboxMode = sandboxMode;
    if (reasoningEffort !== "REASONING_EFFORT_UNSPECIFIED") settings.reasoningEffort = reasoningEffort;
    if (threadMode !== "THREAD_MODE_UNSPECIFIED") settings.threadMode = threadMode;
    if (humanLoopTimeout) settings.humanLoopTimeout = humanLoopTimeout;
    const body: CreateRunRequest = { prompt, settings, requireHumanLoop, requestId };
    if (workspaceId) body.workspaceId = workspaceId;
    createRun.mutate(body, {
      onSuccess: (run) => {
        setRequestId(newRequestId());
        if (run.id) navigate(`/runs/${encodeURIComponent(run.id)}`);
      },
    });
  };

  const error = formError ?? (createRun.error ? toApiError(createRun.error) : null);
  const field = (name: string) => `${id}-${name}`;
  return (
    <form className="new-run" onSubmit={submit} aria-labelledby={field("title")}>
      <h2 id={field("title")}>New run</h2>
      <label className="new-run__prompt" htmlFor={field("prompt")}>
        Prompt
      </label>
      <textarea
        id={field("prompt")}
        value={prompt}
        rows={3}
        placeholder="What should the agent do?"
        onChange={(e) => setPrompt(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) {
            e.preventDefault();
            e.currentTarget.form?.requestSubmit();
          }
        }}
        aria-describedby={field("prompt-hint")}
      />
      <p id={field("prompt-hint")} className="hint">
        Ctrl+Enter starts the run.
      </p>
      <div className="new-run__settings">
        <label>
          <span>Workspace</span>
          <select value={workspaceId} onChange={(e) => setWorkspaceId(e.target.value)}>
            <option value="">New workspace</option>
            {(workspaces.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name ? `${w.name} (${w.id})` : w.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Approval</span>
          <select value={approvalMode} onChange={(e) => setApprovalMode(e.target.value as ApprovalMode)}>
            {APPROVAL_CHOICES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Sandbox</span>
          <select value={sandboxMode} onChange={(e) => setSandboxMode(e.target.value as SandboxMode)}>
            {SANDBOX_CHOICES.map((value) => {
              const withheld = value === "SANDBOX_MODE_DANGER_FULL_ACCESS" && !fullAccess;
              return (
                <option key={value} value={value} disabled={withheld}>
                  {SANDBOX_LABELS[value]}
                  {withheld ? " (not allowed for this tenant)" : ""}
                </option>
              );
            })}
          </select>
        </label>
        <label>
          <span>Reasoning effort</span>
          <select value={reasoningEffort} onChange={(e) => setReasoningEffort(e.target.value as ReasoningEffort)}>
            {EFFORT_CHOICES.map((value) => (
              <option key={value} value={value}>
                {EFFORT_LABELS[value]}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Thread</span>
          <select value={threadMode} onChange={(e) => setThreadMode(e.target.value as ThreadMode)}>
            {THREAD_CHOICES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Human-loop timeout (seconds)</span>
          <input
            type="number"
            min={1}
            step={1}
            inputMode="numeric"
            placeholder="default"
            value={timeout}
            onChange={(e) => setTimeoutSeconds(e.target.value)}
          />
        </label>
        <label className="new-run__check">
          <input type="checkbox" checked={requireHumanLoop} onChange={(e) => setRequireHumanLoop(e.target.checked)} />
          <span>Require human loop</span>
        </label>
      </div>
      {workspaces.error && <p className="hint">Workspaces could not be listed: {toApiError(workspaces.error).sentence}</p>}
      {error && <ErrorBanner error={error} />}
      <div className="new-run__actions">
        <button type="submit" className="primary" disabled={createRun.isPending}>
          Start run
        </button>
        {createRun.isPending && <span className="hint">Starting…</span>}
      </div>
    </form>
  );
}
