// What the agent asks, exactly as it asks it (never paraphrased).
import type { FileChange, FileChangeKind, HumanLoopDetails, HumanLoopKind } from "@/lib/api/types";
import { UnifiedDiff } from "./UnifiedDiff";

const CHANGE_WORDS: Record<FileChangeKind, string> = {
  FILE_CHANGE_KIND_UNSPECIFIED: "change",
  FILE_CHANGE_KIND_ADD: "add",
  FILE_CHANGE_KIND_UPDATE: "update",
  FILE_CHANGE_KIND_DELETE: "delete",
};

// Diffs up to this many lines are open at first; longer ones are folded.
const OPEN_DIFF_LINES = 40;

function Reason({ reason }: { reason: string | undefined }) {
  if (!reason) return null;
  return (
    <p className="hl-reason">
      <span className="hl-reason__label">Reason: </span>
      {reason}
    </p>
  );
}

function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="hl-json" aria-label={label} tabIndex={0}>
      <code>{JSON.stringify(value ?? {}, null, 2)}</code>
    </pre>
  );
}

function Change({ change, unfold }: { change: FileChange; unfold: boolean }) {
  const kind = change.kind ?? "FILE_CHANGE_KIND_UNSPECIFIED";
  const diff = change.diff ?? "";
  const lines = diff.split("\n").length;
  return (
    <li className="hl-change">
      <details open={unfold && lines <= OPEN_DIFF_LINES}>
        <summary>
          <span className={`hl-change__kind hl-change__kind--${CHANGE_WORDS[kind]}`}>{CHANGE_WORDS[kind]}</span>{" "}
          <code>{change.path}</code>
          {change.movePath ? (
            <>
              {" → "}
              <code>{change.movePath}</code>
            </>
          ) : null}
          {lines > OPEN_DIFF_LINES ? <span className="hint"> · {lines} lines</span> : null}
        </summary>
        <UnifiedDiff diff={diff} kind={kind} />
      </details>
    </li>
  );
}

/** `pending`: small diffs start open while the request waits; once settled, folded. */
export function RequestDetails({ kind, details, pending }: { kind: HumanLoopKind; details: HumanLoopDetails; pending: boolean }) {
  switch (kind) {
    case "HUMAN_LOOP_KIND_COMMAND_APPROVAL": {
      const d = details.commandApproval ?? {};
      return (
        <div className="hl-details">
          <pre className="hl-command" aria-label="Command" tabIndex={0}>
            <code>{d.command}</code>
          </pre>
          {d.cwd ? (
            <p className="hl-cwd">
              in <code>{d.cwd}</code>
            </p>
          ) : null}
          <Reason reason={d.reason} />
        </div>
      );
    }
    case "HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL": {
      const d = details.fileChangeApproval ?? {};
      const changes = d.changes ?? [];
      return (
        <div className="hl-details">
          {changes.length > 0 ? (
            <ul className="hl-changes" aria-label="Changes">
              {changes.map((change, i) => (
                <Change key={`${change.path}:${i}`} change={change} unfold={pending} />
              ))}
            </ul>
          ) : (
            <p className="hint">The agent did not list the changes.</p>
          )}
          <Reason reason={d.reason} />
          {d.grantRoot ? (
            <p className="hl-grant">
              Also asks to write under <code>{d.grantRoot}</code> for the rest of the session.
            </p>
          ) : null}
        </div>
      );
    }
    case "HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL": {
      const d = details.permissionsApproval ?? {};
      return (
        <div className="hl-details">
          <Json value={d.permissions} label="Requested permissions" />
          <Reason reason={d.reason} />
        </div>
      );
    }
    case "HUMAN_LOOP_KIND_MCP_ELICITATION": {
      const d = details.mcpElicitation ?? {};
      const schema = d.requestedSchema;
      return (
        <div className="hl-details">
          {d.serverName ? (
            <p className="hl-server">
              Server <code>{d.serverName}</code>
            </p>
          ) : null}
          <p className="hl-message">{d.message}</p>
          {schema && Object.keys(schema).length > 0 ? (
            <details>
              <summary>Requested content (schema)</summary>
              <Json value={schema} label="Requested content schema" />
            </details>
          ) : null}
        </div>
      );
    }
    default:
      // Questions show inside their form; an unknown kind has nothing more to show.
      return null;
  }
}
