/**
 * The deterministic order dataset. Each order is kept as a lean record (ids, times, status and a seed);
 * the full TikTok-shaped object is rebuilt from the seed whenever it is served, so 283k orders fit in a
 * few tens of MB and the same state always yields the same JSON.
 */
import type { OrderStatus, TikTokOrder } from "../../../shared/tiktok/api-types";
import type { BurstOptions, ResolvedShop } from "./config";
import { mixSeeds, SeededRandom } from "./prng";

// Module-level alias: global lookups are slow inside vm contexts (jest) and generation runs per order.
const { max } = Math;

const DAY = 86_400;
const HOUR = 3_600;

export class OrderRecord {
  /** Position in the shop's list of non-terminal orders; -1 once terminal. */
  openSlot = -1;
  paidTime = 0;
  rtsTime = 0;
  collectionTime = 0;
  deliveryTime = 0;
  cancelTime = 0;

  constructor(
    readonly id: string,
    /** Drives every static field (buyer, address, items) when the order is materialized. */
    readonly seed: number,
    public createTime: number,
    public updateTime: number,
    public status: OrderStatus,
  ) {}
}

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set<OrderStatus>(["COMPLETED", "CANCELLED"]);

const SHIPPED_STATUSES: ReadonlySet<string> = new Set<OrderStatus>([
  "PARTIALLY_SHIPPING",
  "AWAITING_COLLECTION",
  "IN_TRANSIT",
  "DELIVERED",
  "COMPLETED",
]);

/** Moves an order to `next` at time `at`, stamping the matching milestone; update_time never decreases. */
export function applyTransition(record: OrderRecord, next: OrderStatus, at: number): void {
  switch (next) {
    case "ON_HOLD":
    case "AWAITING_SHIPMENT":
      if (record.paidTime === 0) record.paidTime = at;
      break;
    case "PARTIALLY_SHIPPING":
    case "AWAITING_COLLECTION":
      if (record.rtsTime === 0) record.rtsTime = at;
      break;
    case "IN_TRANSIT":
      if (record.rtsTime === 0) record.rtsTime = at;
      if (record.collectionTime === 0) record.collectionTime = at;
      break;
    case "DELIVERED":
      record.deliveryTime = at;
      break;
    case "CANCELLED":
      record.cancelTime = at;
      break;
    default:
      break;
  }
  record.status = next;
  record.updateTime = max(record.updateTime, at);
}

/** One lifecycle step as the mutation feed applies it; undefined for terminal orders. */
export function nextStatus(status: string, random: SeededRandom): OrderStatus | undefined {
  const roll = random.next();
  switch (status) {
    case "UNPAID":
      return roll < 0.8 ? "AWAITING_SHIPMENT" : roll < 0.88 ? "ON_HOLD" : "CANCELLED";
    case "ON_HOLD":
      return roll < 0.95 ? "AWAITING_SHIPMENT" : "CANCELLED";
    case "AWAITING_SHIPMENT":
      return roll < 0.75
        ? "IN_TRANSIT"
        : roll < 0.9
          ? "AWAITING_COLLECTION"
          : roll < 0.97
            ? "CANCELLED"
            : "PARTIALLY_SHIPPING";
    case "PARTIALLY_SHIPPING":
    case "AWAITING_COLLECTION":
      return "IN_TRANSIT";
    case "IN_TRANSIT":
      return "DELIVERED";
    case "DELIVERED":
      return "COMPLETED";
    default:
      return undefined;
  }
}

/**
 * Plays an order's planned lifecycle up to `now` (later events have not happened yet). Every draw is
 * made up front so the random stream does not depend on `now`; no allocation, as it runs per order.
 */
function simulateHistory(record: OrderRecord, random: SeededRandom, now: number): void {
  const created = record.createTime;
  const fate = random.next();
  const unpaidCancelDelay = random.int(600, 2 * DAY);
  const payDelay = random.chance(0.8) ? random.int(1, 120) : random.int(120, 6 * HOUR);
  const onHold = random.chance(0.04);
  const holdFor = random.int(1_800, 4 * HOUR);
  const paidCancelDelay = random.int(600, 3 * DAY);
  const handOverDelay = random.int(2 * HOUR, 3 * DAY);
  const awaitsCollection = random.chance(0.25);
  const collectDelay = random.int(HOUR, 36 * HOUR);
  const transitTime = random.int(DAY, 7 * DAY);
  const completeDelay = random.int(3 * DAY, 15 * DAY);

  if (fate < 0.07) {
    if (created + unpaidCancelDelay <= now) applyTransition(record, "CANCELLED", created + unpaidCancelDelay);
    return;
  }
  const paid = created + payDelay;
  if (paid > now) return;
  let readyAt = paid;
  if (onHold) {
    applyTransition(record, "ON_HOLD", paid);
    readyAt = paid + holdFor;
    if (readyAt > now) return;
  }
  applyTransition(record, "AWAITING_SHIPMENT", readyAt);
  if (fate < 0.11) {
    if (readyAt + paidCancelDelay <= now) applyTransition(record, "CANCELLED", readyAt + paidCancelDelay);
    return;
  }
  const handedOver = readyAt + handOverDelay;
  if (handedOver > now) return;
  let collected = handedOver;
  if (awaitsCollection) {
    applyTransition(record, "AWAITING_COLLECTION", handedOver);
    collected = handedOver + collectDelay;
    if (collected > now) return;
  }
  applyTransition(record, "IN_TRANSIT", collected);
  const delivered = collected + transitTime;
  if (delivered > now) return;
  applyTransition(record, "DELIVERED", delivered);
  if (delivered + completeDelay <= now) applyTransition(record, "COMPLETED", delivered + completeDelay);
}

export function makeOrderId(shopTag: number, sequence: number, random: SeededRandom): string {
  // TikTok order ids are 18 digits; equal length keeps string order equal to numeric order.
  const tail = `${sequence * 1000 + random.int(0, 999)}`.padStart(14, "0");
  return `57${`${shopTag}`.padStart(2, "0")}${tail}`;
}

/** A fresh UNPAID order created at `at`. */
export function newOrderRecord(
  shop: ResolvedShop,
  sequence: number,
  at: number,
  random: SeededRandom,
): OrderRecord {
  return new OrderRecord(makeOrderId(shop.tag, sequence, random), random.uint32(), at, at, "UNPAID");
}

export interface GeneratedShopData {
  /** Sorted by (create_time, id). */
  readonly byCreate: OrderRecord[];
  /** The same records sorted by (update_time, id). */
  readonly byUpdate: OrderRecord[];
  readonly nextSequence: number;
}

/**
 * `shop.orders` orders spread uniformly over `historyDays` ending at `now`, each played through its
 * lifecycle, then a fraction crowded into same-second bursts (flash sales for create_time, bulk
 * shipping updates for update_time) so page boundaries fall inside one second.
 */
export function generateShopOrders(shop: ResolvedShop, bursts: BurstOptions, now: number): GeneratedShopData {
  const random = new SeededRandom(mixSeeds(shop.seed, 0x0bde75));
  const count = shop.orders;
  const historySeconds = Math.max(1, Math.round(shop.historyDays * DAY));
  const start = now - historySeconds;
  const createTimes = new Float64Array(count);
  for (let index = 0; index < count; index++) createTimes[index] = start + random.int(0, historySeconds - 1);
  createTimes.sort();
  const records: OrderRecord[] = new Array(count);
  for (let index = 0; index < count; index++) {
    const createTime = createTimes[index] ?? now;
    const record = new OrderRecord(
      makeOrderId(shop.tag, index + 1, random),
      random.uint32(),
      createTime,
      createTime,
      "UNPAID",
    );
    simulateHistory(record, random, now);
    records[index] = record;
  }
  const byUpdate = [...records].sort(compareByUpdate);
  if (applyBursts(records, byUpdate, shop.burstFraction, bursts, random)) {
    // Both arrays are nearly sorted after snapping runs, which TimSort handles in about linear time.
    records.sort(compareByCreate);
    byUpdate.sort(compareByUpdate);
  }
  return { byCreate: records, byUpdate, nextSequence: count + 1 };
}

/** Returns whether any burst was applied. */
function applyBursts(
  records: OrderRecord[],
  byUpdate: OrderRecord[],
  fraction: number,
  bursts: BurstOptions,
  random: SeededRandom,
): boolean {
  const count = records.length;
  if (fraction <= 0 || count < bursts.minSize * 2) return false;
  const averageSize = (bursts.minSize + bursts.maxSize) / 2;
  const burstCount = Math.max(2, Math.round((count * fraction) / averageSize));
  const createBursts = Math.ceil(burstCount / 2);
  const updateBursts = burstCount - createBursts;
  // Create bursts: a run of consecutive orders takes the run's first create_time (a flash sale).
  forEachBurstRun(count, createBursts, bursts, random, (from, to) => {
    const first = records[from];
    if (first === undefined) return;
    for (let index = from; index < to; index++) {
      const record = records[index];
      if (record) record.createTime = first.createTime;
    }
  });
  // Update bursts: a run of orders adjacent in update order takes the run's last update_time (bulk ship).
  forEachBurstRun(count, updateBursts, bursts, random, (from, to) => {
    const last = byUpdate[to - 1];
    if (last === undefined) return;
    for (let index = from; index < to; index++) {
      const record = byUpdate[index];
      if (record) record.updateTime = last.updateTime;
    }
  });
  return true;
}

/** Splits [0, count) into `runs` segments and calls back with one run of burst size inside each. */
function forEachBurstRun(
  count: number,
  runs: number,
  bursts: BurstOptions,
  random: SeededRandom,
  apply: (from: number, to: number) => void,
): void {
  if (runs <= 0) return;
  const segment = Math.floor(count / runs);
  for (let run = 0; run < runs; run++) {
    const size = Math.min(random.int(bursts.minSize, bursts.maxSize), segment);
    const from = run * segment + random.int(0, segment - size);
    apply(from, from + size);
  }
}

export function compareIds(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

export function compareByCreate(left: OrderRecord, right: OrderRecord): number {
  return left.createTime - right.createTime || compareIds(left.id, right.id);
}

export function compareByUpdate(left: OrderRecord, right: OrderRecord): number {
  return left.updateTime - right.updateTime || compareIds(left.id, right.id);
}

// ---------------------------------------------------------------------------------------------------
// Materialization: the full order object, rebuilt from the record's seed and current state.

interface RegionProfile {
  readonly currency: string;
  readonly phoneCode: string;
  readonly taxRate: number;
  readonly emailDomain: string;
  readonly carriers: readonly string[];
  readonly places: readonly (readonly [city: string, state: string, postalPrefix: string])[];
}

const REGIONS: Readonly<Record<string, RegionProfile>> = {
  US: {
    currency: "USD",
    phoneCode: "1",
    taxRate: 0.0825,
    emailDomain: "scs.tiktokw.us",
    carriers: ["USPS", "UPS", "FedEx"],
    places: [
      ["Los Angeles", "California", "900"],
      ["Houston", "Texas", "770"],
      ["Chicago", "Illinois", "606"],
      ["Miami", "Florida", "331"],
      ["Seattle", "Washington", "981"],
      ["Brooklyn", "New York", "112"],
      ["Phoenix", "Arizona", "850"],
      ["Atlanta", "Georgia", "303"],
    ],
  },
  GB: {
    currency: "GBP",
    phoneCode: "44",
    taxRate: 0,
    emailDomain: "scs.tiktokw.uk",
    carriers: ["Royal Mail", "Evri", "DPD"],
    places: [
      ["London", "Greater London", "E1"],
      ["Manchester", "Greater Manchester", "M4"],
      ["Birmingham", "West Midlands", "B5"],
      ["Leeds", "West Yorkshire", "LS1"],
      ["Glasgow", "Scotland", "G2"],
    ],
  },
};

const FIRST_NAMES = [
  "Olivia",
  "Liam",
  "Emma",
  "Noah",
  "Ava",
  "Mateo",
  "Sophia",
  "Lucas",
  "Isabella",
  "Ethan",
  "Mia",
  "Aiden",
  "Amelia",
  "Jackson",
  "Harper",
  "Leo",
  "Chloe",
  "Kai",
  "Zoe",
  "Omar",
];
const LAST_NAMES = [
  "Smith",
  "Johnson",
  "Garcia",
  "Brown",
  "Nguyen",
  "Davis",
  "Martinez",
  "Wilson",
  "Patel",
  "Taylor",
  "Kim",
  "Lopez",
  "Clark",
  "Walker",
  "Young",
  "Hughes",
];
const STREETS = [
  "Maple",
  "Oak",
  "Cedar",
  "Sunset",
  "Park",
  "Lake",
  "Hill",
  "River",
  "Elm",
  "Station",
  "Church",
];
const STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Ln", "Dr"];
const PRODUCT_ADJECTIVES = [
  "Wireless",
  "Organic",
  "Vintage",
  "Glow",
  "Ultra-Soft",
  "Portable",
  "Matte",
  "Mini",
];
const PRODUCT_NOUNS = [
  "Earbuds",
  "Face Serum",
  "Hoodie",
  "Phone Case",
  "Lip Tint",
  "LED Strip",
  "Water Bottle",
  "Yoga Mat",
  "Hair Clip Set",
  "Tote Bag",
];
const SKU_VARIANTS = ["Black", "White", "Pink", "Blue, M", "Red, L", "Green, S", "Default"];
const CANCEL_REASONS = ["No longer needed", "Ordered by mistake", "Out of stock", "Payment not completed"];
const CANCEL_INITIATORS = ["BUYER", "SELLER", "SYSTEM"];

interface CatalogSku {
  readonly productId: string;
  readonly productName: string;
  readonly skuId: string;
  readonly skuName: string;
  readonly sellerSku: string;
  readonly priceCents: number;
}

export interface ShopProfile {
  readonly shop: ResolvedShop;
  readonly region: RegionProfile;
  readonly skus: readonly CatalogSku[];
  readonly warehouseId: string;
}

/** The shop's catalog and regional settings, derived from its seed. */
export function buildShopProfile(shop: ResolvedShop): ShopProfile {
  const random = new SeededRandom(mixSeeds(shop.seed, 0xca7a106));
  const skus: CatalogSku[] = [];
  for (let product = 0; product < 24; product++) {
    const productId = random.digits(19);
    const productName = `${random.pick(PRODUCT_ADJECTIVES)} ${random.pick(PRODUCT_NOUNS)}`;
    const basePrice = random.int(399, 8999);
    const variants = random.int(1, 3);
    for (let variant = 0; variant < variants; variant++) {
      skus.push({
        productId,
        productName,
        skuId: random.digits(19),
        skuName: random.pick(SKU_VARIANTS),
        sellerSku: `SKU-${random.alphanumeric(6).toUpperCase()}`,
        priceCents: basePrice + variant * 100,
      });
    }
  }
  const region = REGIONS[shop.region] ?? (REGIONS.US as RegionProfile);
  return { shop, region, skus, warehouseId: random.digits(19) };
}

function money(cents: number): string {
  return (cents / 100).toFixed(2);
}

/**
 * The order as the API returns it: static fields from the seed, dynamic ones from the record.
 * `lineItemCount` overrides the drawn number of line items (one per unit: a bulk order has thousands).
 */
export function materializeOrder(
  record: OrderRecord,
  profile: ShopProfile,
  lineItemCount?: number,
): TikTokOrder {
  // Every draw happens whatever the status, so static fields never depend on the order's progress.
  const random = new SeededRandom(record.seed);
  const { region } = profile;
  const status = record.status;
  const shipped = SHIPPED_STATUSES.has(status) || (status === "CANCELLED" && record.rtsTime > 0);
  const userId = `7${random.digits(18)}`;
  const firstName = random.pick(FIRST_NAMES);
  const lastName = random.pick(LAST_NAMES);
  const [city, state, postalPrefix] = random.pick(region.places);
  const postalCode = region.currency === "USD" ? `${postalPrefix}${random.digits(2)}` : `${postalPrefix} 1AB`;
  const addressLine1 = `${random.int(1, 9999)} ${random.pick(STREETS)} ${random.pick(STREET_KINDS)}`;
  const addressLine2 = random.chance(0.2) ? `Apt ${random.int(1, 40)}` : "";
  const phone = `(+${region.phoneCode})${random.digits(10)}`;
  const email = `${random.alphanumeric(12)}@${region.emailDomain}`;
  const carrier = random.pick(region.carriers);
  const trackingNumber = `${carrier === "USPS" ? "9400" : "1Z"}${random.digits(18)}`;
  const packageId = random.digits(19);
  const shippingFeeCents = random.pick([0, 0, 299, 499, 599]);
  const sellerDiscountCents = random.chance(0.2) ? random.int(50, 500) : 0;
  const cancelReason = random.pick(CANCEL_REASONS);
  const cancelInitiator = random.pick(CANCEL_INITIATORS);
  const drawnLineCount = random.chance(0.35) ? random.int(2, 4) : 1;
  // Line items are drawn last, so an override changes nothing else about the order.
  const lineCount = lineItemCount ?? drawnLineCount;
  let subTotalCents = 0;
  let originalCents = 0;
  const lineItems: Record<string, unknown>[] = [];
  for (let line = 0; line < lineCount; line++) {
    const sku = random.pick(profile.skus);
    const listCents = sku.priceCents + (random.chance(0.3) ? random.int(100, 1000) : 0);
    subTotalCents += sku.priceCents;
    originalCents += listCents;
    lineItems.push({
      id: random.digits(18),
      product_id: sku.productId,
      product_name: sku.productName,
      sku_id: sku.skuId,
      sku_name: sku.skuName,
      seller_sku: sku.sellerSku,
      sku_type: "NORMAL",
      original_price: money(listCents),
      sale_price: money(sku.priceCents),
      platform_discount: "0.00",
      seller_discount: money(listCents - sku.priceCents),
      currency: region.currency,
      display_status: status,
      package_id: shipped ? packageId : "",
      package_status: shipped ? (status === "AWAITING_COLLECTION" ? "TO_FULFILL" : "PROCESSING") : "",
      tracking_number: shipped ? trackingNumber : "",
      shipping_provider_name: shipped ? carrier : "",
      is_gift: false,
      cancel_reason: status === "CANCELLED" ? cancelReason : "",
    });
  }
  const discountCents = Math.min(sellerDiscountCents, subTotalCents);
  const taxCents = Math.round((subTotalCents - discountCents) * region.taxRate);
  const totalCents = subTotalCents - discountCents + shippingFeeCents + taxCents;
  const order: Record<string, unknown> = {
    id: record.id,
    status,
    create_time: record.createTime,
    update_time: record.updateTime,
    user_id: userId,
    buyer_email: email,
    buyer_message: "",
    payment: {
      currency: region.currency,
      sub_total: money(subTotalCents - discountCents),
      shipping_fee: money(shippingFeeCents),
      seller_discount: money(discountCents),
      platform_discount: "0.00",
      tax: money(taxCents),
      total_amount: money(totalCents),
      original_total_product_price: money(originalCents),
      original_shipping_fee: money(shippingFeeCents),
    },
    line_items: lineItems,
    recipient_address: {
      name: `${firstName} ${lastName}`,
      first_name: firstName,
      last_name: lastName,
      phone_number: phone,
      address_line1: addressLine1,
      address_line2: addressLine2,
      postal_code: postalCode,
      region_code: profile.shop.region,
      full_address: [addressLine1, addressLine2, city, state, postalCode].filter(Boolean).join(", "),
      district_info: [
        { address_level_name: "Country", address_name: profile.shop.region, address_level: "L0" },
        { address_level_name: "State", address_name: state, address_level: "L1" },
        { address_level_name: "City", address_name: city, address_level: "L2" },
      ],
    },
    packages: shipped ? [{ id: packageId }] : [],
    shipping_provider: shipped ? carrier : "",
    tracking_number: shipped ? trackingNumber : "",
    fulfillment_type: "FULFILLMENT_BY_SELLER",
    delivery_type: "HOME_DELIVERY",
    shipping_type: "TIKTOK",
    delivery_option_name: "Standard shipping",
    payment_method_name: "Credit card",
    warehouse_id: profile.warehouseId,
    is_cod: false,
    is_on_hold_order: status === "ON_HOLD",
    is_sample_order: false,
    is_replacement_order: false,
    cancel_reason: status === "CANCELLED" ? cancelReason : "",
    cancellation_initiator: status === "CANCELLED" ? cancelInitiator : "",
    seller_note: "",
    commerce_platform: "TIKTOK_SHOP",
    order_type: "NORMAL",
  };
  if (record.paidTime > 0) order.paid_time = record.paidTime;
  if (record.rtsTime > 0) order.rts_time = record.rtsTime;
  if (record.collectionTime > 0) order.collection_time = record.collectionTime;
  if (record.deliveryTime > 0) order.delivery_time = record.deliveryTime;
  if (record.cancelTime > 0) order.cancel_time = record.cancelTime;
  return order as TikTokOrder;
}
