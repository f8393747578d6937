/**
 * The SQS work message of a full resync: which page of which window to fetch. Deliberately small —
 * the window item in the state table is the truth (DESIGN rule 8); the message only says "work on
 * window n at page sequence s". `pageToken` rides along for diagnosis; workers use the stored one.
 */
import { z } from "zod";
import { InvalidWorkMessageError } from "./resync-errors";

export const workMessageSchema = z.strictObject({
  shopId: z.string().min(1).max(64),
  jobId: z.string().min(1).max(64),
  window: z.number().int().nonnegative(),
  sequence: z.number().int().nonnegative(),
  pageToken: z.string().min(1).max(4096).optional(),
});

export type WorkMessage = z.infer<typeof workMessageSchema>;

export function encodeWorkMessage(message: WorkMessage): string {
  return JSON.stringify(message);
}

export function parseWorkMessage(body: string): WorkMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidWorkMessageError("work message body is not JSON", { cause: error });
  }
  const parsed = workMessageSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "body"}: ${issue.message}`,
    );
    throw new InvalidWorkMessageError(`invalid work message: ${problems.join("; ")}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
