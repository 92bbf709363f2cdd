/** Building blocks every page shares: data loading, labelled fields, messages, formatting. */
import { useCallback, useEffect, useId, useState, type ReactNode } from 'react';
import { ApiError, gql } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs a query when the page shows and whenever its variables change; a new `version` runs it
 * again (a page raises it after an action that changed what it shows).
 */
export function useQuery<T>(query: string, variables: Record<string, unknown> = {}, { skip = false, version = 0 } = {}): Loaded<T> {
  const key = JSON.stringify(variables);
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: !skip });
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (skip) return;
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    gql<T>(query, JSON.parse(key) as Record<string, unknown>).then(
      (data) => current && setState({ data, loading: false }),
      (error: Error) => current && setState({ error, loading: false }),
    );
    return () => { current = false; };
  }, [query, key, round, skip, version]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** A form's submission state: the error of the last attempt, per field when the API named one. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | undefined>();
  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await action();
    } catch (e) {
      setError(e as Error);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : undefined);
  const formError = error && !(error instanceof ApiError && error.field) ? error.message : undefined;
  return { busy, error, run, fieldError, formError, clear: () => setError(undefined) };
}

interface FieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  error?: string;
  hint?: string;
  type?: 'text' | 'number' | 'datetime-local' | 'date' | 'email' | 'url' | 'search' | 'password';
  required?: boolean;
  name?: string;
  multiline?: boolean;
  placeholder?: string;
}

/** A labelled input; its error (from the API) sits under it and is announced. */
export function Field({ label, value, onChange, error, hint, type = 'text', required, name, multiline, placeholder }: FieldProps) {
  const id = useId();
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
  const common = {
    id, name, value, required, placeholder,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy,
  };
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {multiline
        ? <textarea {...common} rows={3} onChange={(e) => onChange(e.target.value)} spellCheck={false} />
        : <input {...common} type={type} onChange={(e) => onChange(e.target.value)} />}
      {hint && <p id={`${id}-hint`} className="hint">{hint}</p>}
      {error && <p id={`${id}-error`} className="field-error" role="alert">{error}</p>}
    </div>
  );
}

interface SelectProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: readonly (string | { value: string; label: string })[];
  error?: string;
  name?: string;
}

export function Select({ label, value, onChange, options, error, name }: SelectProps) {
  const id = useId();
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} value={value} onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : undefined}>
        {options.map((o) => (typeof o === 'string'
          ? <option key={o} value={o}>{o}</option>
          : <option key={o.value} value={o.value}>{o.label}</option>))}
      </select>
      {error && <p id={`${id}-error`} className="field-error" role="alert">{error}</p>}
    </div>
  );
}

export function Check({ label, checked, onChange }: { label: string; checked: boolean; onChange: (checked: boolean) => void }) {
  const id = useId();
  return (
    <div className="field check">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

export function ErrorMessage({ error }: { error: Error | string | undefined }) {
  if (!error) return null;
  return <p className="error" role="alert">{typeof error === 'string' ? error : error.message}</p>;
}

export function Notice({ children }: { children: ReactNode }) {
  return <p className="notice" role="status">{children}</p>;
}

/** A page's loading and error states around its content. */
export function Loading<T>({ state, children }: { state: Loaded<T>; children: (data: T) => ReactNode }) {
  if (state.error) return <ErrorMessage error={state.error} />;
  if (state.data === undefined) return <p className="muted" role="status">Loading…</p>;
  return <>{children(state.data)}</>;
}

export function Card({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = useId();
  return (
    <section className="card" aria-labelledby={id}>
      <div className="card-head"><h2 id={id}>{title}</h2>{actions}</div>
      {children}
    </section>
  );
}

/** A secret the API answers once (a partner's, a webhook's): shown until the user says it is copied. */
export function SecretOnce({ title, secret, onDismiss }: { title: string; secret: string; onDismiss: () => void }) {
  const id = useId();
  return (
    <section className="card secret" role="alert" aria-labelledby={id}>
      <h2 id={id}>{title}: shown this once</h2>
      <p>Copy it now; Milepost keeps only what it needs to check it, and cannot show it again.</p>
      <p><code className="secret-value">{secret}</code></p>
      <button type="button" onClick={onDismiss}>I have copied it</button>
    </section>
  );
}

export function Figure({ label, value, detail }: { label: string; value: ReactNode; detail?: ReactNode }) {
  return (
    <div className="figure">
      <div className="figure-label">{label}</div>
      <div className="figure-value">{value}</div>
      {detail && <div className="figure-detail">{detail}</div>}
    </div>
  );
}

const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium' });
const integer = new Intl.NumberFormat('en-GB');

export const format = {
  when: (iso: string | null | undefined) => (iso ? dateTime.format(new Date(iso)) : '—'),
  day: (iso: string | null | undefined) => (iso ? dateOnly.format(new Date(iso)) : '—'),
  points: (n: number | null | undefined) => (n === null || n === undefined ? '—' : integer.format(n)),
  percent: (share: number | null | undefined) => (share === null || share === undefined ? '—' : `${Math.round(share * 1000) / 10} %`),
};

/** An <input type="datetime-local"> value as an ISO instant (the browser's zone), or null when empty. */
export function toInstant(local: string): string | null {
  return local ? new Date(local).toISOString() : null;
}

/** An ISO instant as an <input type="datetime-local"> value in the browser's zone. */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A whole number typed in a field, or null when empty; NaN stays NaN so the API names the field. */
export function toInt(text: string): number | null {
  return text.trim() === '' ? null : Number(text);
}

/** Sends a text file to the user's downloads, built in the page (no second request). */
export function download(filename: string, text: string, type = 'text/csv'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}
