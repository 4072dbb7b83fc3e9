import type { ApiError } from "@/lib/api/errors";

/** An error in words: the sentence, then the fields it names. */
export function ErrorBanner({ error, onRetry }: { error: ApiError; onRetry?: () => void }) {
  return (
    <div role="alert" className="error-banner">
      <p className="error-banner__sentence">{error.sentence}</p>
      {error.fieldsInWords.length > 0 && (
        <ul className="error-banner__fields">
          {error.fieldsInWords.map((words) => (
            <li key={words}>{words}</li>
          ))}
        </ul>
      )}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
