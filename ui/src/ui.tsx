// Small shared pieces: a status line, an error box, a labelled field, a confirmation.
import { useId, type ReactNode } from "react";

export function ErrorBox({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}

/** The end of every create/edit form: its error, then submit and cancel. */
export function FormFooter(props: { error: string | null; submit: string; onCancel: () => void }) {
  return (
    <>
      <ErrorBox error={props.error} />
      <div className="actions">
        <button type="submit" className="primary">{props.submit}</button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </>
  );
}

export function Field(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  type?: string;
  placeholder?: string;
  required?: boolean;
  hint?: string;
  autoFocus?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? "text"}
        value={props.value}
        placeholder={props.placeholder}
        required={props.required}
        autoFocus={props.autoFocus}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.hint && (
        <small id={`${id}-hint`} className="hint">
          {props.hint}
        </small>
      )}
    </div>
  );
}

export function Select(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: [string, string][];
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Confirm(props: {
  title: string;
  children: ReactNode;
  confirm: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const id = useId();
  return (
    <div className="confirm" role="alertdialog" aria-modal="false" aria-labelledby={id}>
      <h3 id={id}>{props.title}</h3>
      <div>{props.children}</div>
      <div className="actions">
        <button type="button" className="danger" onClick={props.onConfirm} autoFocus>
          {props.confirm}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

export function Bar({ share, label }: { share: number | null; label: string }) {
  if (share === null) return <span>{label}</span>;
  const pct = Math.round(share * 100);
  return (
    <span className="bar-cell">
      <meter min={0} max={100} value={pct} low={80} high={95} optimum={0} aria-label={`budget used ${pct}%`} />
      <span>{label}</span>
    </span>
  );
}
