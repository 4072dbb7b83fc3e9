// The controls that answer a request. Input lives here, so an error from the
// server (shown by the card) never loses what was typed.
import { useId, useState, type FormEvent } from "react";
import type { ApprovalDecision, HumanLoopAnswer, UserInputQuestion } from "@/lib/api/types";
import { DECISION_BUTTONS } from "../model";

interface AnswerProps {
  onAnswer: (answer: HumanLoopAnswer) => void;
  sending: boolean;
}

export function ApprovalButtons({ decisions, onAnswer, sending }: AnswerProps & { decisions: readonly ApprovalDecision[] }) {
  return (
    <div className="hl-actions">
      {DECISION_BUTTONS.filter((b) => decisions.includes(b.decision)).map((b) => (
        <button
          key={b.decision}
          type="button"
          className={`hl-button hl-button--${b.decision.replace("APPROVAL_DECISION_", "").toLowerCase()}`}
          disabled={sending}
          onClick={() => onAnswer({ approval: { decision: b.decision } })}
        >
          {b.label}
        </button>
      ))}
    </div>
  );
}

const OTHER = "\u0000other";

interface Choice {
  /** An option's label, OTHER, or null before a choice. */
  choice: string | null;
  other: string;
}

const NO_CHOICE: Choice = { choice: null, other: "" };

function questionName(q: UserInputQuestion, index: number): string {
  return q.header || q.question || `Question ${index + 1}`;
}

/** The answer to one question, or "" when none is given yet. */
function valueOf(q: UserInputQuestion, c: Choice | undefined): string {
  const options = q.options ?? [];
  if (options.length === 0 || c?.choice === OTHER) return (c?.other ?? "").trim();
  return c?.choice ?? "";
}

export function QuestionsForm({ questions, onAnswer, sending }: AnswerProps & { questions: readonly UserInputQuestion[] }) {
  const formId = useId();
  const [choices, setChoices] = useState<Record<string, Choice>>({});
  const [missing, setMissing] = useState<string[]>([]);
  const update = (id: string, patch: Partial<Choice>) =>
    setChoices((prev) => ({ ...prev, [id]: { ...(prev[id] ?? NO_CHOICE), ...patch } }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const unanswered = questions.filter((q, i) => !valueOf(q, choices[q.id ?? String(i)])).map(questionName);
    setMissing(unanswered);
    if (unanswered.length > 0) return;
    const answers: Record<string, { answers: string[] }> = {};
    questions.forEach((q, i) => {
      answers[q.id ?? String(i)] = { answers: [valueOf(q, choices[q.id ?? String(i)])] };
    });
    onAnswer({ questions: { answers } });
  };

  return (
    <form className="hl-questions" onSubmit={submit} noValidate>
      {questions.map((q, index) => {
        const id = q.id ?? String(index);
        const c = choices[id];
        const options = q.options ?? [];
        const base = `${formId}-${index}`;
        const inputType = q.secret ? "password" : "text";
        return (
          <fieldset key={id} className="hl-question">
            <legend>
              {q.header ? <span className="hl-question__header">{q.header}</span> : null}
              {q.question ? <span className="hl-question__text">{q.question}</span> : null}
            </legend>
            {options.length === 0 ? (
              <input
                type={inputType}
                className="hl-question__free"
                aria-label="Answer"
                autoComplete="off"
                value={c?.other ?? ""}
                onChange={(e) => update(id, { other: e.target.value })}
              />
            ) : (
              <div className="hl-options">
                {options.map((o, i) => (
                  <div key={`${o.label}:${i}`} className="hl-option">
                    <input
                      type="radio"
                      id={`${base}-o${i}`}
                      name={base}
                      value={o.label ?? ""}
                      checked={c?.choice === (o.label ?? "")}
                      onChange={() => update(id, { choice: o.label ?? "" })}
                      aria-describedby={o.description ? `${base}-d${i}` : undefined}
                    />
                    <label htmlFor={`${base}-o${i}`} className="hl-option__label">
                      {o.label}
                    </label>
                    {o.description ? (
                      <span id={`${base}-d${i}`} className="hl-option__description">
                        {o.description}
                      </span>
                    ) : null}
                  </div>
                ))}
                {q.allowOther ? (
                  <div className="hl-option hl-option--other">
                    <input
                      type="radio"
                      id={`${base}-other`}
                      name={base}
                      value="other"
                      checked={c?.choice === OTHER}
                      onChange={() => update(id, { choice: OTHER })}
                    />
                    <label htmlFor={`${base}-other`} className="hl-option__label">
                      Other
                    </label>
                    <input
                      type={inputType}
                      className="hl-option__other"
                      aria-label="Other answer"
                      autoComplete="off"
                      value={c?.other ?? ""}
                      onFocus={() => update(id, { choice: OTHER })}
                      onChange={(e) => update(id, { choice: OTHER, other: e.target.value })}
                    />
                  </div>
                ) : null}
              </div>
            )}
          </fieldset>
        );
      })}
      {missing.length > 0 ? (
        <p role="alert" className="hl-missing">
          Answer {missing.length === 1 ? "this question" : "these questions"} first: {missing.join(", ")}.
        </p>
      ) : null}
      <div className="hl-actions">
        <button type="submit" className="hl-button hl-button--accept" disabled={sending}>
          Submit
        </button>
      </div>
    </form>
  );
}

/** A free-text answer (an MCP elicitation, or a kind this build does not know). */
export function TextAnswerForm({ onAnswer, sending }: AnswerProps) {
  const [text, setText] = useState("");
  const [empty, setEmpty] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    setEmpty(value === "");
    if (value !== "") onAnswer({ text: value });
  };
  return (
    <form className="hl-text-answer" onSubmit={submit} noValidate>
      <label className="hl-text-answer__label">
        Answer
        <textarea rows={3} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      {empty ? (
        <p role="alert" className="hl-missing">
          Write an answer first.
        </p>
      ) : null}
      <div className="hl-actions">
        <button type="submit" className="hl-button hl-button--accept" disabled={sending}>
          Submit
        </button>
      </div>
    </form>
  );
}
