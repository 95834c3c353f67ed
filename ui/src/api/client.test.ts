import { describe, expect, it } from "vitest";
import { ApiError, apiError, makeClient, unwrap } from "./client";
import { clearKey, loadKey, saveKey } from "../lib/session";

describe("client", () => {
  it("reads an OpenAI-shaped error", () => {
    const e = apiError(403, { error: { message: "Admin only", code: "forbidden" } });
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.message, e.code]).toEqual([403, "Admin only", "forbidden"]);
    expect(apiError(502, "bad gateway").message).toBe("The admin API answered HTTP 502.");
  });
  it("sends the key as a bearer credential and throws the API's error", async () => {
    const seen: string[] = [];
    const fetcher = async (req: Request) => {
      seen.push(req.headers.get("authorization") ?? "");
      return new Response(JSON.stringify({ error: { message: "Invalid key", code: "invalid_api_key" } }), {
        status: 401, headers: { "content-type": "application/json" },
      });
    };
    const client = makeClient("sk-test", "http://admin.test");
    await expect(unwrap(client.GET("/admin/deployments", { fetch: fetcher }))).rejects.toMatchObject({ status: 401, message: "Invalid key" });
    expect(seen).toEqual(["Bearer sk-test"]);
  });
  it("keeps the key in the given (session) storage only", () => {
    const m = new Map<string, string>();
    const store = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
    expect(loadKey(store)).toBeNull();
    saveKey(store, " sk-master ");
    expect(loadKey(store)).toBe("sk-master");
    clearKey(store);
    expect(loadKey(store)).toBeNull();
  });
});
