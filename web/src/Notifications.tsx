import { useEffect, useState } from "react";
import type { Api } from "./api";
import { disablePush, enablePush, pushEnabled, pushSupported } from "./push";

/** The notifications switch: a push subscription for this browser. */
export function Notifications({ api }: { api: Api }) {
  const [on, setOn] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const supported = pushSupported();

  useEffect(() => {
    if (supported) pushEnabled().then(setOn, () => setOn(false));
  }, [supported]);

  if (!supported) return null;

  async function toggle() {
    setBusy(true);
    setError(null);
    try {
      if (on) {
        await disablePush(api);
        setOn(false);
      } else {
        await enablePush(api);
        setOn(true);
      }
    } catch (e) {
      setError(e instanceof Error ? e.message : "Notifications could not be changed.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="notifications">
      <button type="button" role="switch" aria-checked={on} disabled={busy} onClick={() => void toggle()}>
        Notifications {on ? "on" : "off"}
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
