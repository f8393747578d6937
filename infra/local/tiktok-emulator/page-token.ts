/**
 * Opaque page tokens: base64url(JSON) + "." + truncated HMAC under a per-instance secret, so a client
 * can neither forge nor edit one, and a restarted emulator refuses the old ones (as a real server might).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { PageTokenMode } from "./config";
import type { OrderFilter, SortField, SortOrder } from "./order-store";

export interface PageTokenState {
  readonly mode: PageTokenMode;
  /** Fingerprint of the shop, sort and filter the token was issued for. */
  readonly fingerprint: string;
  /** Emulator-clock unix seconds after which the token is refused. */
  readonly expiresAt: number;
  /** Results of the query served so far (the offset, in offset mode; counts towards the result cap). */
  readonly served: number;
  /** Keyset mode: the last (sort key, id) served. */
  readonly lastKey?: number;
  readonly lastId?: string;
  /** Upper bounds defaulted to "now" on the first page, kept so every page sees the same window. */
  readonly createLt?: number;
  readonly updateLt?: number;
}

interface WirePayload {
  v: 1;
  m: "k" | "o";
  f: string;
  e: number;
  n: number;
  k?: number;
  i?: string;
  cl?: number;
  ul?: number;
}

export function queryFingerprint(
  shopId: string,
  sortField: SortField,
  sortOrder: SortOrder,
  filter: OrderFilter,
): string {
  const canonical = JSON.stringify([
    shopId,
    sortField,
    sortOrder,
    filter.createGe ?? null,
    filter.createLt ?? null,
    filter.updateGe ?? null,
    filter.updateLt ?? null,
    filter.status ?? null,
  ]);
  return createHash("sha256").update(canonical).digest("base64url").slice(0, 16);
}

export class PageTokenCodec {
  private readonly secret = randomBytes(32);

  private mac(payload: string): Buffer {
    return createHmac("sha256", this.secret).update(payload).digest().subarray(0, 16);
  }

  encode(state: PageTokenState): string {
    const wire: WirePayload = {
      v: 1,
      m: state.mode === "keyset" ? "k" : "o",
      f: state.fingerprint,
      e: state.expiresAt,
      n: state.served,
    };
    if (state.lastKey !== undefined) wire.k = state.lastKey;
    if (state.lastId !== undefined) wire.i = state.lastId;
    if (state.createLt !== undefined) wire.cl = state.createLt;
    if (state.updateLt !== undefined) wire.ul = state.updateLt;
    const payload = Buffer.from(JSON.stringify(wire)).toString("base64url");
    return `${payload}.${this.mac(payload).toString("base64url")}`;
  }

  /** The token's state, or undefined when it is malformed or was not issued by this instance. */
  decode(token: string): PageTokenState | undefined {
    const [payload, signature, extra] = token.split(".");
    if (!payload || !signature || extra !== undefined) return undefined;
    const received = Buffer.from(signature, "base64url");
    const expected = this.mac(payload);
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) return undefined;
    let wire: WirePayload;
    try {
      wire = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as WirePayload;
    } catch {
      return undefined;
    }
    if (wire.v !== 1) return undefined;
    return {
      mode: wire.m === "k" ? "keyset" : "offset",
      fingerprint: wire.f,
      expiresAt: wire.e,
      served: wire.n,
      ...(wire.k === undefined ? {} : { lastKey: wire.k }),
      ...(wire.i === undefined ? {} : { lastId: wire.i }),
      ...(wire.cl === undefined ? {} : { createLt: wire.cl }),
      ...(wire.ul === undefined ? {} : { updateLt: wire.ul }),
    };
  }
}
