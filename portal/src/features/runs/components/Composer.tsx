// Message the agent: steer the running turn, or follow up a finished persistent run.
import { useId, useState, type FormEvent } from "react";
import { ErrorBanner } from "@/components/ErrorBanner";
import { toApiError } from "@/lib/api/errors";
import type { Run, RunStatus } from "@/lib/api/types";
import { useSendMessage } from "../api/runs";
import { composerBlockedReason, isFinished } from "../logic/runInfo";

const newRequestId = () => crypto.randomUUID();

export function Composer({ runId, run, status }: { runId: string; run: Run | undefined; status: RunStatus | null }) {
  const id = useId();
  const [text, setText] = useState("");
  const [requestId, setRequestId] = useState(newRequestId);
  const send = useSendMessage(runId);
  const blocked = composerBlockedReason(run, status);
  const hint = blocked ?? (isFinished(status) ? "Sending starts a follow-up turn." : "Sending steers the running turn.");

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (blocked || send.isPending || text.trim() === "") return;
    send.mutate(
      { text, requestId },
      {
        onSuccess: () => {
          setText("");
          setRequestId(newRequestId());
        },
      },
    );
  };

  return (
    <form className="composer" onSubmit={submit}>
      {send.error && <ErrorBanner error={toApiError(send.error)} />}
      <div className="composer__row">
        <label htmlFor={`${id}-message`} className="visually-hidden">
          Message
        </label>
        <textarea
          id={`${id}-message`}
          value={text}
          rows={2}
          placeholder={blocked ? "" : "Message the agent (Enter sends, Shift+Enter for a new line)"}
          disabled={blocked !== null}
          aria-describedby={`${id}-hint`}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              submit();
            }
          }}
        />
        <button type="submit" className="primary" disabled={blocked !== null || send.isPending || text.trim() === ""}>
          Send
        </button>
      </div>
      <p id={`${id}-hint`} className="hint">
        {hint}
      </p>
    </form>
  );
}
