/**
 * DynamoDB's size of an item, measured on the values the document client marshals (DynamoDB counts
 * attribute names and values): strings and binaries by their bytes, numbers by their base-100
 * digit pairs, 1 byte for a boolean or null, and 3 bytes plus 1 per element for a list or map, nested names
 * included. Checked against DynamoDB Local's own limit (test/integration/item-size.test.ts): for long
 * strings, multi-byte text, numbers of every magnitude and sign, lists of maps and an order's item, the
 * largest item it lets through is exactly the largest DynamoDB Local stores. AWS itself is unmeasured
 * here: an item DynamoDB still refuses is caught as a ValidationException (`isItemTooLargeError`).
 */

/** The largest item DynamoDB stores (400 KB, names and values together). */
export const MAX_ITEM_BYTES = 400 * 1024;

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/**
 * DynamoDB stores a number as base-100 digit pairs aligned on the decimal point (leading and trailing
 * zero pairs dropped) plus one byte, and one more when negative: 12345.25 is 01|23|45|.25 → 5 bytes.
 */
function numberBytes(value: number | bigint): number {
  if (value === 0 || value === 0n) return 2;
  const [mantissa = "0", exponent = "0"] = (
    typeof value === "bigint" ? bigintExponential(value) : Math.abs(value).toExponential()
  ).split("e");
  const digits = mantissa.replace(/^-/, "").replace(".", "").replace(/0+$/, "");
  // Power of ten of the first and the last significant digit.
  const first = Number(exponent);
  const last = first - (digits.length - 1);
  const pairs = Math.floor(first / 2) - Math.floor(last / 2) + 1;
  return pairs + 1 + (value < 0 ? 1 : 0);
}

function bigintExponential(value: bigint): string {
  const digits = (value < 0n ? -value : value).toString();
  return `${digits[0]}.${digits.slice(1)}e${digits.length - 1}`;
}

/** Size of one attribute value (without its name). `undefined` is not stored (removeUndefinedValues). */
export function attributeValueBytes(value: unknown): number {
  if (value === null || typeof value === "boolean") return 1;
  if (typeof value === "string") return utf8Bytes(value);
  if (typeof value === "number" || typeof value === "bigint") return numberBytes(value);
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) {
    let total = 0;
    for (const member of value) total += attributeValueBytes(member);
    return total;
  }
  if (Array.isArray(value)) {
    let total = 3;
    for (const element of value) total += 1 + attributeValueBytes(element ?? null);
    return total;
  }
  if (typeof value === "object") {
    let total = 3;
    for (const [name, element] of Object.entries(value as Record<string, unknown>)) {
      if (element === undefined) continue;
      total += 1 + utf8Bytes(name) + attributeValueBytes(element);
    }
    return total;
  }
  return 0;
}

/** Size of an item: each top-level attribute's name plus its value. */
export function itemBytes(item: Readonly<Record<string, unknown>>): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    total += utf8Bytes(name) + attributeValueBytes(value);
  }
  return total;
}

/** DynamoDB's refusal of an item over the limit (PutItem, UpdateItem or a transaction's item). */
export function isItemTooLargeError(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === "ValidationException" &&
    /item size .*exceeded|exceeded the maximum allowed size/i.test(error.message)
  );
}
