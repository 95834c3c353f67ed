import { useState, type FormEvent } from "react";
import { unwrap, type Api, type Schemas } from "../api/client";
import { EMPTY_LIMITS, limitsBody, limitsForm, optionalText, type LimitsForm } from "../lib/forms";
import { budgetShare, limits, money, search } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { Bar, Confirm, ErrorBox, Field, FormFooter, Select } from "../ui";
import { LimitsFields } from "./LimitsFields";

type Group = Schemas["GroupView"];

export function GroupsPage({ api }: { api: Api }) {
  const [query, setQuery] = useState("");
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Group | null>(null);
  const [editing, setEditing] = useState<Group | null>(null);
  const [error, setError] = useState<string | null>(null);
  const groups = useLoad(() => unwrap(api.GET("/admin/groups", { params: { query: { limit: 1000 } } })), [api]);
  const budgets = useLoad(() => unwrap(api.GET("/admin/budgets")), [api]);
  const spend = new Map((budgets.data?.data ?? []).filter((b) => b.entity_type === "group").map((b) => [b.id, b.spend]));
  const rows = search(groups.data?.data ?? [], query, (g) => [g.id, g.name]);
  const remove = async (g: Group) => {
    try {
      await unwrap(api.DELETE("/admin/groups/{id}", { params: { path: { id: g.id } } }));
      setDeleting(null);
      groups.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section aria-labelledby="groups-title">
      <div className="page-head">
        <h1 id="groups-title">Groups</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>Create group</button>
      </div>
      {creating && <CreateGroup api={api} onDone={() => { setCreating(false); groups.reload(); }} />}
      {editing && <EditGroup api={api} group={editing} onDone={() => { setEditing(null); groups.reload(); }} />}
      {deleting && (
        <Confirm title={`Delete group ${deleting.id}?`} confirm="Delete group" onConfirm={() => void remove(deleting)} onCancel={() => setDeleting(null)}>
          Its memberships go with it and its keys are revoked.
        </Confirm>
      )}
      <ErrorBox error={error ?? groups.error} />
      <div className="filters">
        <Field label="Search groups" value={query} onChange={setQuery} placeholder="id, name" />
      </div>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Groups</caption>
          <thead>
            <tr><th scope="col">ID</th><th scope="col">Name</th><th scope="col">Limits</th><th scope="col">Budget</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {rows.map((g) => {
              const spent = spend.get(g.id) ?? 0;
              return (
                <tr key={g.id}>
                  <td>{g.id}</td><td>{g.name ?? "—"}</td><td>{limits(g)}</td>
                  <td><Bar share={budgetShare(spent, g.max_budget)} label={g.max_budget === null ? money(spent) : `${money(spent)} / ${money(g.max_budget)}`} /></td>
                  <td className="row-actions">
                    <button type="button" aria-expanded={open === g.id} aria-label={`Members of ${g.id}`} onClick={() => setOpen(open === g.id ? null : g.id)}>Members</button>
                    <button type="button" aria-label={`Edit ${g.id}`} onClick={() => setEditing(g)}>Edit</button>
                    <button type="button" className="danger" aria-label={`Delete ${g.id}`} onClick={() => setDeleting(g)}>Delete</button>
                  </td>
                </tr>
              );
            })}
            {!groups.loading && rows.length === 0 && <tr><td colSpan={5} className="muted">No groups.</td></tr>}
          </tbody>
        </table>
      </div>
      {open && <Members api={api} group={open} />}
    </section>
  );
}

function Members({ api, group }: { api: Api; group: string }) {
  const [user, setUser] = useState("");
  const [role, setRole] = useState("member");
  const [error, setError] = useState<string | null>(null);
  const members = useLoad(() => unwrap(api.GET("/admin/groups/{id}/members", { params: { path: { id: group } } })), [api, group]);
  const users = useLoad(() => unwrap(api.GET("/admin/users", { params: { query: { limit: 1000 } } })), [api]);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await unwrap(api.POST("/admin/groups/{id}/members", { params: { path: { id: group } }, body: { user_id: user, role: role as "member" | "admin" } }));
      setUser("");
      members.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const remove = async (userId: string) => {
    try {
      await unwrap(api.DELETE("/admin/groups/{id}/members/{user_id}", { params: { path: { id: group, user_id: userId } } }));
      members.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div className="panel" aria-labelledby="members-title">
      <h2 id="members-title">Members of {group}</h2>
      <ul className="members">
        {(members.data?.data ?? []).map((m) => (
          <li key={m.user_id}>
            {m.user_id} <span className="muted">({m.role})</span>{" "}
            <button type="button" aria-label={`Remove ${m.user_id} from ${group}`} onClick={() => void remove(m.user_id)}>Remove</button>
          </li>
        ))}
        {members.data && members.data.data.length === 0 && <li className="muted">No members.</li>}
      </ul>
      <form onSubmit={add} className="inline">
        <Select label="User to add" value={user} onChange={setUser}
          options={[["", "(choose a user)"], ...(users.data?.data ?? []).map((u): [string, string] => [u.id, u.id])]} />
        <Select label="Member role" value={role} onChange={setRole} options={[["member", "member"], ["admin", "admin"]]} />
        <button type="submit" disabled={!user}>Add member</button>
      </form>
      <ErrorBox error={error ?? members.error} />
    </div>
  );
}

function CreateGroup({ api, onDone }: { api: Api; onDone: () => void }) {
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [lim, setLim] = useState<LimitsForm>(EMPTY_LIMITS);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await unwrap(api.POST("/admin/groups", { body: { ...limitsBody(lim), id: optionalText(id), name: optionalText(name) } }));
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="create-group-title">
      <h2 id="create-group-title">Create group</h2>
      <div className="grid">
        <Field label="Group ID" value={id} onChange={setId} placeholder="generated when empty" autoFocus />
        <Field label="Name" value={name} onChange={setName} />
      </div>
      <LimitsFields form={lim} set={setLim} />
      <FormFooter error={error} submit="Create" onCancel={onDone} />
    </form>
  );
}

function EditGroup({ api, group, onDone }: { api: Api; group: Group; onDone: () => void }) {
  const [name, setName] = useState(group.name ?? "");
  const [lim, setLim] = useState<LimitsForm>(limitsForm(group));
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await unwrap(api.PATCH("/admin/groups/{id}", {
        params: { path: { id: group.id } },
        body: { ...limitsBody(lim), name: optionalText(name) },
      }));
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="edit-group-title">
      <h2 id="edit-group-title">Edit group {group.id}</h2>
      <Field label="Name" value={name} onChange={setName} autoFocus />
      <LimitsFields form={lim} set={setLim} />
      <FormFooter error={error} submit="Save" onCancel={onDone} />
    </form>
  );
}
