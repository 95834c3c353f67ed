import { useState, type FormEvent } from "react";
import { unwrap, type Api, type Schemas } from "../api/client";
import { EMPTY_LIMITS, limitsBody, limitsForm, optionalText, type LimitsForm } from "../lib/forms";
import { budgetShare, limits, money, search } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { Bar, Confirm, ErrorBox, Field, FormFooter, Select } from "../ui";
import { LimitsFields } from "./LimitsFields";

type User = Schemas["UserView"];

export function UsersPage({ api }: { api: Api }) {
  const [query, setQuery] = useState("");
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<User | null>(null);
  const [editing, setEditing] = useState<User | null>(null);
  const [error, setError] = useState<string | null>(null);
  const users = useLoad(() => unwrap(api.GET("/admin/users", { params: { query: { limit: 1000 } } })), [api]);
  const budgets = useLoad(() => unwrap(api.GET("/admin/budgets")), [api]);
  const spend = new Map((budgets.data?.data ?? []).filter((b) => b.entity_type === "user").map((b) => [b.id, b.spend]));
  const rows = search(users.data?.data ?? [], query, (u) => [u.id, u.name, u.email]);
  const remove = async (u: User) => {
    try {
      await unwrap(api.DELETE("/admin/users/{id}", { params: { path: { id: u.id } } }));
      setDeleting(null);
      users.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section aria-labelledby="users-title">
      <div className="page-head">
        <h1 id="users-title">Users</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>Create user</button>
      </div>
      {creating && <CreateUser api={api} onDone={() => { setCreating(false); users.reload(); }} />}
      {editing && <EditUser api={api} user={editing} onDone={() => { setEditing(null); users.reload(); }} />}
      {deleting && (
        <Confirm title={`Delete user ${deleting.id}?`} confirm="Delete user" onConfirm={() => void remove(deleting)} onCancel={() => setDeleting(null)}>
          Their memberships go with them and their keys are revoked.
        </Confirm>
      )}
      <ErrorBox error={error ?? users.error} />
      <div className="filters">
        <Field label="Search users" value={query} onChange={setQuery} placeholder="id, name, email" />
      </div>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Users</caption>
          <thead>
            <tr><th scope="col">ID</th><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th>
              <th scope="col">Limits</th><th scope="col">Budget</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {rows.map((u) => {
              const spent = spend.get(u.id) ?? 0;
              return (
                <tr key={u.id}>
                  <td>{u.id}</td><td>{u.name ?? "—"}</td><td>{u.email ?? "—"}</td><td>{u.role}</td><td>{limits(u)}</td>
                  <td><Bar share={budgetShare(spent, u.max_budget)} label={u.max_budget === null ? money(spent) : `${money(spent)} / ${money(u.max_budget)}`} /></td>
                  <td className="row-actions"><button type="button" aria-label={`Edit ${u.id}`} onClick={() => setEditing(u)}>Edit</button><button type="button" className="danger" aria-label={`Delete ${u.id}`} onClick={() => setDeleting(u)}>Delete</button></td>
                </tr>
              );
            })}
            {!users.loading && rows.length === 0 && <tr><td colSpan={7} className="muted">No users.</td></tr>}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function CreateUser({ api, onDone }: { api: Api; onDone: () => void }) {
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("member");
  const [lim, setLim] = useState<LimitsForm>(EMPTY_LIMITS);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await unwrap(api.POST("/admin/users", {
        body: { ...limitsBody(lim), id: optionalText(id), name: optionalText(name), email: optionalText(email), role: role as "member" | "admin" },
      }));
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="create-user-title">
      <h2 id="create-user-title">Create user</h2>
      <div className="grid">
        <Field label="User ID" value={id} onChange={setId} placeholder="generated when empty" autoFocus />
        <Field label="Name" value={name} onChange={setName} />
        <Field label="Email" value={email} onChange={setEmail} type="email" />
        <Select label="Role" value={role} onChange={setRole} options={[["member", "member"], ["admin", "admin"]]} />
      </div>
      <LimitsFields form={lim} set={setLim} />
      <FormFooter error={error} submit="Create" onCancel={onDone} />
    </form>
  );
}

function EditUser({ api, user, onDone }: { api: Api; user: User; onDone: () => void }) {
  const [name, setName] = useState(user.name ?? "");
  const [email, setEmail] = useState(user.email ?? "");
  const [role, setRole] = useState<string>(user.role);
  const [lim, setLim] = useState<LimitsForm>(limitsForm(user));
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await unwrap(api.PATCH("/admin/users/{id}", {
        params: { path: { id: user.id } },
        body: { ...limitsBody(lim), name: optionalText(name), email: optionalText(email), role: role as "member" | "admin" },
      }));
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="edit-user-title">
      <h2 id="edit-user-title">Edit user {user.id}</h2>
      <div className="grid">
        <Field label="Name" value={name} onChange={setName} autoFocus />
        <Field label="Email" value={email} onChange={setEmail} type="email" />
        <Select label="Role" value={role} onChange={setRole} options={[["member", "member"], ["admin", "admin"]]} />
      </div>
      <LimitsFields form={lim} set={setLim} />
      <FormFooter error={error} submit="Save" onCancel={onDone} />
    </form>
  );
}
