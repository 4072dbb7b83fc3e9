// The right rail of a run: what needs the person first, then Todos · Files · Info.
import { useId, useState, type KeyboardEvent, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { RunFilesPanel } from "@/features/files";
import { TodosPanel } from "@/features/human-loop";
import type { Run } from "@/lib/api/types";
import type { HumanLoopItem, RunLogState } from "@/lib/runLog";
import { APPROVAL_LABELS, EFFORT_LABELS, SANDBOX_LABELS, THREAD_LABELS, durationInWords } from "../logic/runInfo";

type Tab = "todos" | "files" | "info";
const TABS: { id: Tab; label: string }[] = [
  { id: "todos", label: "Todos" },
  { id: "files", label: "Files" },
  { id: "info", label: "Info" },
];

export interface RunRailProps {
  runId: string;
  run: Run | undefined;
  log: RunLogState;
  renderHumanLoop: (item: HumanLoopItem) => ReactNode;
}

/** The pending human-loop items of the log, oldest first. */
function pendingItems(log: RunLogState): HumanLoopItem[] {
  const found: HumanLoopItem[] = [];
  for (const questionId of log.pendingQuestions) {
    const position = log.index.get(`human_loop:${questionId}`);
    const item = position === undefined ? undefined : log.items[position];
    if (item?.kind === "human_loop") found.push(item);
  }
  return found;
}

export function RunRail({ runId, run, log, renderHumanLoop }: RunRailProps) {
  const id = useId();
  const [tab, setTab] = useState<Tab>("todos");
  const pending = pendingItems(log);

  const onTabKey = (event: KeyboardEvent<HTMLButtonElement>) => {
    const at = TABS.findIndex((t) => t.id === tab);
    let next: number;
    if (event.key === "ArrowRight") next = (at + 1) % TABS.length;
    else if (event.key === "ArrowLeft") next = (at - 1 + TABS.length) % TABS.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = TABS.length - 1;
    else return;
    event.preventDefault();
    setTab(TABS[next].id);
    document.getElementById(`${id}-tab-${TABS[next].id}`)?.focus();
  };

  return (
    <div className="run-rail">
      <section aria-labelledby={`${id}-needs`} className="run-rail__needs">
        <h2 id={`${id}-needs`}>Needs you ({pending.length})</h2>
        {pending.length === 0 ? (
          <p className="hint">Nothing is waiting for you on this run.</p>
        ) : (
          <ul className="run-rail__pending">
            {pending.map((item) => (
              <li key={item.key}>{renderHumanLoop(item)}</li>
            ))}
          </ul>
        )}
      </section>
      <div role="tablist" aria-label="Run details" className="tabs">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`${id}-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`${id}-panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            onKeyDown={onTabKey}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-panel-${tab}`} aria-labelledby={`${id}-tab-${tab}`} className="tabs__panel" tabIndex={0}>
        {tab === "todos" && <TodosPanel runId={runId} />}
        {tab === "files" &&
          (run ? <RunFilesPanel runId={runId} workspaceId={run.workspaceId ?? ""} /> : <p className="hint">Loading the run…</p>)}
        {tab === "info" && <Info runId={runId} run={run} />}
      </div>
    </div>
  );
}

function Info({ runId, run }: { runId: string; run: Run | undefined }) {
  const settings = run?.settings ?? {};
  const labels = Object.entries(run?.labels ?? {});
  const rows: [string, ReactNode][] = [
    ["run", <span className="mono">{runId}</span>],
    ["approval", APPROVAL_LABELS[settings.approvalMode ?? "APPROVAL_MODE_UNSPECIFIED"]],
    ["sandbox", SANDBOX_LABELS[settings.sandboxMode ?? "SANDBOX_MODE_UNSPECIFIED"]],
    ["reasoning effort", EFFORT_LABELS[settings.reasoningEffort ?? "REASONING_EFFORT_UNSPECIFIED"]],
    ["thread mode", THREAD_LABELS[settings.threadMode ?? "THREAD_MODE_UNSPECIFIED"]],
    ["human-loop timeout", settings.humanLoopTimeout ? durationInWords(settings.humanLoopTimeout) : "default"],
    ["requires human loop", run?.requireHumanLoop ? "yes" : "no"],
    [
      "workspace",
      run?.workspaceId ? (
        <Link className="mono" to={`/workspaces/${encodeURIComponent(run.workspaceId)}`}>
          {run.workspaceId}
        </Link>
      ) : (
        "—"
      ),
    ],
    ["workspace version", run?.workspaceVersion ?? "—"],
    ["provider", run?.provider || "—"],
    ["model", run?.model || "—"],
    ["thread", <span className="mono">{run?.threadId || "—"}</span>],
    ["trace", <span className="mono">{run?.traceId || "—"}</span>],
    ["executor", <span className="mono">{run?.executorId || "—"}</span>],
  ];
  return (
    <>
      <dl className="info-list">
        {rows.map(([term, value]) => (
          <div key={term}>
            <dt>{term}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <h3 className="info-list__title">Labels</h3>
      {labels.length === 0 ? (
        <p className="hint">No labels.</p>
      ) : (
        <ul className="labels">
          {labels.map(([key, value]) => (
            <li key={key} className="mono">
              {key}={value}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
