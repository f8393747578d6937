import type { LocalAws } from "../../infra/local/emulators";

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __localAws?: LocalAws }).__localAws?.stop();
}
