import { useId, useState, type FormEvent } from "react";
import type { Api } from "./api";

/** Sign in, or create an account (which signs in at once). */
export function AuthScreen({ api }: { api: Api }) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "login") await api.login(username.trim(), password);
      else await api.register(username.trim(), password, displayName.trim() || undefined);
    } catch (err) {
      setError(err instanceof Error ? err.message : "Something went wrong.");
      setBusy(false);
    }
  }

  const registering = mode === "register";
  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby={`${id}-title`}>
        <h1 id={`${id}-title`}>{registering ? "Create your account" : "Sign in to Chat"}</h1>
        <label htmlFor={`${id}-user`}>Username</label>
        <input
          id={`${id}-user`}
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
          minLength={3}
          maxLength={32}
          pattern="[A-Za-z0-9_.\-]+"
          title="3 to 32 letters, digits, '_', '.' or '-'"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          autoFocus
        />
        {registering && (
          <>
            <label htmlFor={`${id}-name`}>Display name (optional)</label>
            <input
              id={`${id}-name`}
              name="display_name"
              autoComplete="name"
              maxLength={64}
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
            />
          </>
        )}
        <label htmlFor={`${id}-pass`}>Password</label>
        <input
          id={`${id}-pass`}
          name="password"
          type="password"
          autoComplete={registering ? "new-password" : "current-password"}
          required
          minLength={8}
          maxLength={128}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {registering && <p className="hint">At least 8 characters.</p>}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {registering ? "Create account" : "Sign in"}
        </button>
        <p className="switch">
          {registering ? "Already have an account?" : "New here?"}{" "}
          <button
            type="button"
            className="link"
            onClick={() => {
              setMode(registering ? "login" : "register");
              setError(null);
            }}
          >
            {registering ? "Sign in" : "Create an account"}
          </button>
        </p>
      </form>
    </main>
  );
}
