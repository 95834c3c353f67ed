import { useState, type FormEvent } from "react";
import { unwrap, type Api, type Schemas } from "../api/client";
import { EMPTY_LIMITS, limitsBody, limitsForm, optionalText, type LimitsForm } from "../lib/forms";
import { budgetShare, keyLabel, keyStatus, limits, money, search, when } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { Bar, Confirm, ErrorBox, Field, FormFooter, Select } from "../ui";
import { LimitsFields } from "./LimitsFields";

type Key = Schemas["KeyView"];

export function KeysPage({ api }: { api: Api }) {
  const [showRevoked, setShowRevoked] = useState(false);
  const [query, setQuery] = useState("");
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Schemas["KeyCreated"] | null>(null);
  const [editing, setEditing] = useState<Key | null>(null);
  const [revoking, setRevoking] = useState<Key | null>(null);
  const [error, setError] = useState<string | null>(null);
  const keys = useLoad(
    () => unwrap(api.GET("/admin/keys", { params: { query: { limit: 1000, include_revoked: showRevoked } } })),
    [api, showRevoked],
  );
  const budgets = useLoad(() => unwrap(api.GET("/admin/budgets")), [api]);
  const spend = new Map((budgets.data?.data ?? []).filter((b) => b.entity_type === "key").map((b) => [b.id, b.spend]));
  const rows = search(keys.data?.data ?? [], query, (k) => [k.alias, k.id, k.user_id, k.group_id, k.key_prefix + k.key_suffix]);
  const now = Date.now() / 1000;
  const refresh = () => {
    keys.reload();
    budgets.reload();
  };

  const revoke = async (key: Key) => {
    setError(null);
    try {
      await unwrap(api.POST("/admin/keys/{id}/revoke", { params: { path: { id: key.id } } }));
      setRevoking(null);
      refresh();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section aria-labelledby="keys-title">
      <div className="page-head">
        <h1 id="keys-title">Keys</h1>
        <button type="button" className="primary" onClick={() => { setCreating(true); setCreated(null); }}>
          Create key
        </button>
      </div>
      {created && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      {creating && (
        <CreateKey api={api} onCancel={() => setCreating(false)}
          onCreated={(c) => { setCreating(false); setCreated(c); refresh(); }} />
      )}
      {editing && (
        <EditKey api={api} keyView={editing} onDone={() => { setEditing(null); refresh(); }} />
      )}
      {revoking && (
        <Confirm title={`Revoke key ${revoking.alias ?? revoking.id}?`} confirm="Revoke key"
          onConfirm={() => void revoke(revoking)} onCancel={() => setRevoking(null)}>
          Requests with this key are refused from now on. This cannot be undone.
        </Confirm>
      )}
      <ErrorBox error={error ?? keys.error} />
      <div className="filters">
        <Field label="Search keys" value={query} onChange={setQuery} placeholder="alias, id, user, group" />
        <label className="check">
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
          Show revoked keys
        </label>
      </div>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Virtual keys</caption>
          <thead>
            <tr>
              <th scope="col">Alias</th><th scope="col">Key</th><th scope="col">User</th><th scope="col">Group</th>
              <th scope="col">Models</th><th scope="col">Limits</th><th scope="col">Budget</th>
              <th scope="col">Expires</th><th scope="col">Status</th><th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((k) => {
              const status = keyStatus(k, now);
              const spent = spend.get(k.id) ?? 0;
              return (
                <tr key={k.id}>
                  <td>{k.alias ?? <span className="muted">{k.id}</span>}</td>
                  <td><code>{keyLabel(k.key_prefix, k.key_suffix)}</code></td>
                  <td>{k.user_id ?? "—"}</td>
                  <td>{k.group_id ?? "—"}</td>
                  <td>{k.allowed_models?.length ? k.allowed_models.join(", ") : "all"}</td>
                  <td>{limits(k)}</td>
                  <td>
                    <Bar share={budgetShare(spent, k.max_budget)}
                      label={k.max_budget === null ? money(spent) : `${money(spent)} / ${money(k.max_budget)} ${k.budget_period ?? ""}`} />
                  </td>
                  <td>{when(k.expires_at)}</td>
                  <td><span className={`badge ${status}`}>{status}</span></td>
                  <td className="row-actions">
                    {status !== "revoked" && (
                      <>
                        <button type="button" onClick={() => setEditing(k)} aria-label={`Edit ${k.alias ?? k.id}`}>Edit</button>
                        <button type="button" className="danger" onClick={() => setRevoking(k)} aria-label={`Revoke ${k.alias ?? k.id}`}>Revoke</button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
            {!keys.loading && rows.length === 0 && (
              <tr><td colSpan={10} className="muted">No keys.</td></tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function SecretOnce({ created, onDone }: { created: Schemas["KeyCreated"]; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="secret" role="status" aria-labelledby="secret-title">
      <h2 id="secret-title">Key created: {created.key.alias ?? created.key.id}</h2>
      <p>{created.warning}</p>
      <p>
        <code className="secret-value" data-testid="secret">{created.secret}</code>
      </p>
      <div className="actions">
        <button type="button" onClick={() => void copy()}>{copied ? "Copied" : "Copy"}</button>
        <button type="button" className="primary" onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

function CreateKey({ api, onCreated, onCancel }: { api: Api; onCreated: (c: Schemas["KeyCreated"]) => void; onCancel: () => void }) {
  const [alias, setAlias] = useState("");
  const [user, setUser] = useState("");
  const [group, setGroup] = useState("");
  const [role, setRole] = useState("member");
  const [models, setModels] = useState<string[]>([]);
  const [duration, setDuration] = useState("");
  const [lim, setLim] = useState<LimitsForm>(EMPTY_LIMITS);
  const [error, setError] = useState<string | null>(null);
  const config = useLoad(() => unwrap(api.GET("/admin/config")), [api]);
  const users = useLoad(() => unwrap(api.GET("/admin/users", { params: { query: { limit: 1000 } } })), [api]);
  const groups = useLoad(() => unwrap(api.GET("/admin/groups", { params: { query: { limit: 1000 } } })), [api]);
  const deployments = ((config.data?.config as Record<string, unknown> | undefined)?.deployments ?? []) as { model_name?: string }[];
  const available = [...new Set(deployments.map((d) => d.model_name).filter((m): m is string => !!m))];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body = {
        ...limitsBody(lim),
        alias: optionalText(alias),
        user_id: optionalText(user),
        group_id: optionalText(group),
        role: role as "member" | "admin",
        allowed_models: models.length ? models : null,
        duration: optionalText(duration),
      };
      onCreated(await unwrap(api.POST("/admin/keys", { body })));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create key</h2>
      <div className="grid">
        <Field label="Alias" value={alias} onChange={setAlias} autoFocus />
        <Select label="User" value={user} onChange={setUser}
          options={[["", "(none)"], ...(users.data?.data ?? []).map((u): [string, string] => [u.id, u.name ? `${u.name} (${u.id})` : u.id])]} />
        <Select label="Group" value={group} onChange={setGroup}
          options={[["", "(none)"], ...(groups.data?.data ?? []).map((g): [string, string] => [g.id, g.name ? `${g.name} (${g.id})` : g.id])]} />
        <Select label="Role" value={role} onChange={setRole} options={[["member", "member"], ["admin", "admin"]]} />
        <Field label="Expires after" value={duration} onChange={setDuration} placeholder="never (e.g. 30d, 12h)" />
      </div>
      <fieldset>
        <legend>Allowed models (none ticked: all)</legend>
        <div className="checks">
          {available.map((m) => (
            <label key={m} className="check">
              <input type="checkbox" checked={models.includes(m)}
                onChange={(e) => setModels(e.target.checked ? [...models, m] : models.filter((x) => x !== m))} />
              {m}
            </label>
          ))}
        </div>
      </fieldset>
      <LimitsFields form={lim} set={setLim} />
      <FormFooter error={error} submit="Create" onCancel={onCancel} />
    </form>
  );
}

function EditKey({ api, keyView, onDone }: { api: Api; keyView: Key; onDone: () => void }) {
  const [alias, setAlias] = useState(keyView.alias ?? "");
  const [lim, setLim] = useState<LimitsForm>(limitsForm(keyView));
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await unwrap(api.PATCH("/admin/keys/{id}", {
        params: { path: { id: keyView.id } },
        body: { ...limitsBody(lim), alias: optionalText(alias) },
      }));
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="edit-key-title">
      <h2 id="edit-key-title">Edit key {keyView.alias ?? keyView.id}</h2>
      <Field label="Alias" value={alias} onChange={setAlias} autoFocus />
      <LimitsFields form={lim} set={setLim} />
      <FormFooter error={error} submit="Save" onCancel={onDone} />
    </form>
  );
}
