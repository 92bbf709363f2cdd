/**
 * Rule conditions in CEL (Common Expression Language, cel.dev), through @marcbachmann/cel-js:
 * the environments a condition is checked against when a rule is saved, and the values a rule is
 * evaluated on. A condition is parsed and type-checked once per rule version (rules.service.ts).
 */
import type * as CelLib from '@marcbachmann/cel-js';
import { BadInputError } from '../errors';

type Cel = typeof CelLib;
/** A checked condition: true when the rule applies to the context. */
export type Condition = (context: RuleContext) => boolean;

let library: Promise<Cel> | null = null;
let loaded: Cel | null = null;

/**
 * Loads the CEL library once; everything else here needs it loaded. The library ships ES modules
 * only: the service's CommonJS build loads it with require() (Node ≥ 20.19), the tests' with
 * import() (jest.config.js keeps it one).
 */
export async function celReady(): Promise<void> {
  library ??= import('@marcbachmann/cel-js').then((cel) => (loaded = cel));
  await library;
}

function cel(): Cel {
  if (!loaded) throw new Error('the CEL library is not loaded: await celReady() first');
  return loaded;
}

// The values a rule sees, as CEL types: classes, so the library checks field access.
export class ItemValue {
  constructor(readonly sku: string, readonly category: string, readonly quantity: bigint, readonly unitPrice: number) {}
}
export class PurchaseValue {
  constructor(
    readonly amount: number, readonly currency: string, readonly channel: string, readonly orderId: string,
    readonly partnerId: string, readonly items: ItemValue[],
  ) {}
}
export class EventValue {
  constructor(readonly type: string, readonly attributes: Record<string, unknown>) {}
}
export class MemberValue {
  constructor(
    readonly id: string, readonly tier: string, readonly tags: string[], readonly enrolledAt: Date,
    readonly purchaseCount: bigint, readonly birthDate: string,
  ) {}
}

/** What a condition is evaluated against (see docs/rules.md). */
export interface RuleContext {
  purchase?: PurchaseValue;
  event?: EventValue;
  member: MemberValue;
  now: Date;
  localDay: bigint;
  localDate: string;
  item?: ItemValue;
}

/** Where a condition is used: a purchase rule's, an event rule's, or an item filter. */
export type ConditionKind = 'purchase' | 'event' | 'item';

const environments = new Map<ConditionKind, CelLib.Environment>();

function environment(kind: ConditionKind): CelLib.Environment {
  let env = environments.get(kind);
  if (!env) {
    env = new (cel().Environment)({ limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 100, maxMapEntries: 100, maxCallArguments: 8 } })
      .registerType('Item', { ctor: ItemValue, fields: { sku: 'string', category: 'string', quantity: 'int', unitPrice: 'double' } })
      .registerType('Purchase', {
        ctor: PurchaseValue,
        fields: { amount: 'double', currency: 'string', channel: 'string', orderId: 'string', partnerId: 'string', items: 'list<Item>' },
      })
      .registerType('Event', { ctor: EventValue, fields: { type: 'string', attributes: 'map<string, dyn>' } })
      .registerType('Member', {
        ctor: MemberValue,
        fields: { id: 'string', tier: 'string', tags: 'list<string>', enrolledAt: 'google.protobuf.Timestamp', purchaseCount: 'int', birthDate: 'string' },
      })
      .registerVariable('member', 'Member')
      .registerVariable('now', 'google.protobuf.Timestamp')
      .registerVariable('localDay', 'int')
      .registerVariable('localDate', 'string');
    if (kind === 'purchase' || kind === 'item') env.registerVariable('purchase', 'Purchase');
    if (kind === 'event') env.registerVariable('event', 'Event');
    if (kind === 'item') env.registerVariable('item', 'Item');
    environments.set(kind, env);
  }
  return env;
}

/**
 * Parses and type-checks `source` as a CEL boolean for `kind`; BAD_USER_INPUT naming `field`
 * and the position (line:column) otherwise. The result evaluates to false, rather than failing,
 * where the context lacks what it reads (an event attribute that was not sent, say).
 */
export function compileCondition(source: string, field: string, kind: ConditionKind): Condition {
  let program: ReturnType<CelLib.Environment['parse']>;
  try {
    program = environment(kind).parse(source);
  } catch (error) {
    throw conditionError(source, field, error);
  }
  checkCost(program.ast as AstNode, source, field);
  const checked = program.check();
  if (!checked.valid) throw conditionError(source, field, checked.error);
  if (checked.type !== 'bool') throw new BadInputError(`${field} must be a boolean expression, not ${checked.type}`, field);
  return (context) => {
    try {
      return program(context as unknown as Record<string, unknown>) === true;
    } catch {
      return false;
    }
  };
}

/** A node of the library's syntax tree: an operator, its arguments, its offset in the source. */
interface AstNode { op: string; args: unknown; pos?: number }

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
/**
 * The functions and methods a condition may call: comparisons of text, sizes, conversions and
 * the parts of a timestamp. Anything that makes lists out of text (split, join) or matches
 * patterns is left out (see checkCost).
 */
const OFFERED = new Set([
  ...COMPREHENSIONS, 'has', 'size', 'contains', 'startsWith', 'endsWith', 'lowerAscii', 'upperAscii', 'trim', 'indexOf', 'lastIndexOf',
  'substring', 'int', 'uint', 'double', 'string', 'bool', 'dyn', 'type', 'timestamp', 'duration',
  'getFullYear', 'getMonth', 'getDayOfMonth', 'getDate', 'getDayOfWeek', 'getDayOfYear', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);
/** Comprehensions inside comprehensions: two levels (each item against the member's tags, say) and no more. */
const MAX_COMPREHENSION_DEPTH = 2;

/**
 * Refuses what would let one condition hold up the service, which evaluates it synchronously on
 * every purchase: any function not OFFERED — `matches` (a JavaScript regular expression, unlike
 * CEL's RE2, can take exponential time on a crafted string), `cel.bind` (which can double a value
 * at every level), `split` (a list as long as a text, to loop over) — and comprehensions nested
 * deeper than MAX_COMPREHENSION_DEPTH. With the environment's limits on size, literal lists and
 * depth, a condition's cost then grows with the purchase's items (at most 500) squared at worst.
 */
function checkCost(root: AstNode, source: string, field: string): void {
  const refuse = (node: AstNode, reason: string): never => {
    const at = position(source, node.pos ?? 0);
    throw new BadInputError(`${field} is not allowed at ${at.line}:${at.column}: ${reason}`, field, at);
  };
  const walk = (node: AstNode, depth: number): void => {
    const args = Array.isArray(node.args) ? (node.args as unknown[]) : [];
    if (node.op === 'rcall' || node.op === 'call') {
      const name = args[0];
      if (name === 'matches') refuse(node, 'matches() is not offered (use contains, startsWith or endsWith)');
      if (typeof name !== 'string' || !OFFERED.has(name)) refuse(node, `${String(name)}() is not offered in conditions`);
      if (node.op === 'rcall' && typeof name === 'string' && COMPREHENSIONS.has(name)) {
        if (depth + 1 > MAX_COMPREHENSION_DEPTH) refuse(node, `comprehensions nest at most ${MAX_COMPREHENSION_DEPTH} deep`);
        visit(args[1], depth);
        visit(args[2], depth + 1);
        return;
      }
    }
    for (const arg of args) visit(arg, depth);
  };
  const visit = (value: unknown, depth: number): void => {
    if (Array.isArray(value)) for (const v of value) visit(v, depth);
    else if (value && typeof value === 'object' && 'op' in value) walk(value as AstNode, depth);
  };
  walk(root, 0);
}

function conditionError(source: string, field: string, error: unknown): BadInputError {
  const e = error as { message?: string; node?: { pos?: number } } | undefined;
  const reason = (e?.message ?? 'invalid expression').split('\n')[0];
  const at = typeof e?.node?.pos === 'number' ? position(source, e.node.pos) : null;
  const where = at ? ` at ${at.line}:${at.column}` : '';
  return new BadInputError(`${field} is not a valid CEL condition${where}: ${reason}`, field, at ?? undefined);
}

function position(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/** A JSON value as CEL reads it: whole numbers as int, other numbers as double. */
export function celJson(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(celJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, celJson(v)]));
  return value;
}
