// The admin API's client: openapi-fetch typed by src/api/schema.d.ts, which openapi-typescript
// generates from the API's own OpenAPI document (`make ui`), so a changed route or field is a
// type error here rather than a broken page.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Api = Client<paths>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The message of an OpenAI-shaped error body (`{"error": {"message", "code"}}`). */
export function apiError(status: number, body: unknown): ApiError {
  if (body && typeof body === "object" && "error" in body) {
    const err = (body as { error: unknown }).error;
    if (err && typeof err === "object") {
      const e = err as { message?: unknown; code?: unknown };
      const message = typeof e.message === "string" ? e.message : `HTTP ${status}`;
      return new ApiError(status, message, typeof e.code === "string" ? e.code : null);
    }
  }
  return new ApiError(status, `The admin API answered HTTP ${status}.`);
}

/** A client that sends `key` as the bearer credential on every call. */
export function makeClient(key: string, baseUrl = ""): Api {
  const client = createClient<paths>({ baseUrl });
  client.use({
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${key}`);
      return request;
    },
  });
  return client;
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of a call, or its error thrown as an ApiError. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await call;
  } catch (e) {
    throw new ApiError(0, `The admin API is unreachable (${String(e)}).`);
  }
  if (!result.response.ok || result.data === undefined) {
    throw apiError(result.response.status, result.error);
  }
  return result.data;
}
