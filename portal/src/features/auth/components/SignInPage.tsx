import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { useSignIn } from "../api";

/** Where to go after signing in: a path of this site only. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/sign-in") ? next : "/";
}

export function SignInPage() {
  const [apiKey, setApiKey] = useState("");
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const signIn = useSignIn();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate({ apiKey: apiKey.trim() }, { onSuccess: () => navigate(safeNext(params.get("next")), { replace: true }) });
  };

  return (
    <main className="sign-in">
      <h1>Sign in to ccplane</h1>
      <form onSubmit={submit} className="sign-in__form">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="apiKey"
          type="password"
          autoComplete="current-password"
          required
          value={apiKey}
          onChange={(event) => setApiKey(event.target.value)}
        />
        <button type="submit" disabled={signIn.isPending || apiKey.trim() === ""}>
          Sign in
        </button>
        {signIn.error && <ErrorBanner error={signIn.error} />}
      </form>
      <p className="hint">
        Create a key with <code>ccplane api-keys create --tenant NAME</code>.
      </p>
    </main>
  );
}
