import type { Ctx } from '../context';
import { ForbiddenError, UnauthenticatedError } from '../errors';
import type { Actor, Role } from './jwt';

/** The caller, or UNAUTHENTICATED. */
export function requireActor(ctx: Ctx): Actor {
  if (!ctx.actor) throw new UnauthenticatedError();
  return ctx.actor;
}

/** The caller if it holds one of `roles`, else FORBIDDEN. */
export function requireRole(ctx: Ctx, ...roles: Role[]): Actor {
  const actor = requireActor(ctx);
  if (!roles.includes(actor.role)) throw new ForbiddenError(`This operation needs role ${roles.join(' or ')}`);
  return actor;
}

/**
 * Object-level check: ADMIN and PARTNER may act on any member; a MEMBER only on itself.
 * `roles` narrows who may act at all.
 */
export function requireMemberAccess(ctx: Ctx, memberId: string, roles: Role[] = ['ADMIN', 'PARTNER', 'MEMBER']): Actor {
  const actor = requireRole(ctx, ...roles);
  // Member ids are uuids, which match in either case.
  if (actor.role === 'MEMBER' && actor.memberId?.toLowerCase() !== memberId.toLowerCase()) {
    throw new ForbiddenError('A member may act on its own account only');
  }
  return actor;
}

/** A stable name for the caller: idempotency scope and the actor recorded on ledger rows. */
export function actorKey(actor: Actor): string {
  if (actor.role === 'PARTNER') return `partner:${actor.partnerId}`;
  if (actor.role === 'MEMBER') return `member:${actor.memberId}`;
  return `admin:${actor.sub}`;
}

/**
 * Marks a root resolver with the roles it admits. createApp refuses to start if any Query or
 * Mutation field lacks a policy, so access is denied by default.
 */
export const POLICY = Symbol('milepost.policy');
export type Policy = Role[] | 'PUBLIC';

export interface GuardOptions {
  /**
   * The resolver carries the request's rate-limit count on its first statement (db/ahead.ts)
   * instead of waiting for its verdict first. Only for resolvers whose every write goes
   * through a unit of work (ledger/unit-of-work.ts runUnit), which carries the count itself, so
   * none runs before the verdict.
   */
  carriesRateCount?: boolean;
}

/** For the resolvers that carry the rate-limit count (see GuardOptions). */
export const CARRIES_RATE_COUNT: GuardOptions = { carriesRateCount: true };

export function guarded<F extends (...args: never[]) => unknown>(policy: Policy, resolver: F, { carriesRateCount = false }: GuardOptions = {}): F {
  const roles = policy === 'PUBLIC' ? null : policy;
  const wrapped = ((...args: Parameters<F>) => {
    const ctx = args[2] as unknown as Ctx;
    if (roles) requireRole(ctx, ...roles);
    if (carriesRateCount || !ctx.rateCount) return resolver(...args);
    return ctx.rateCount.settled().then(() => resolver(...args));
  }) as unknown as F;
  (wrapped as unknown as Record<symbol, Policy>)[POLICY] = policy;
  return wrapped;
}

export function policyOf(resolver: unknown): Policy | undefined {
  return typeof resolver === 'function' ? (resolver as unknown as Record<symbol, Policy>)[POLICY] : undefined;
}

/**
 * Whether the caller sees members' personal data (name, email, phone, birth date): an ADMIN, a
 * MEMBER (who reads only itself), or a PARTNER whose token carries personalData. Other partners
 * see the loyalty account (ids, balance, tier, their own transactions) and nulls there.
 */
export function seesPersonalData(ctx: Ctx): boolean {
  return ctx.actor !== null && (ctx.actor.role !== 'PARTNER' || ctx.actor.personalData === true);
}

// Another member as a MEMBER caller may see it (its referee, say). Marked here, so the Member
// type's resolvers, whichever domain adds them, answer such a view only where it is open.
const limitedViews = new WeakSet<object>();

/** Marks `row` as a limited view of another member: only the fields limitViews leaves open answer. */
export function limitedView<T extends object>(row: T): T {
  limitedViews.add(row);
  return row;
}

/**
 * Wraps a type's field resolvers so that a limited view (limitedView) answers only the `open`
 * fields: any other field with a resolver is FORBIDDEN, including fields added later (denied by
 * default). Fields without a resolver read the view's own properties, which the view clears.
 */
export function limitViews<F extends Record<string, unknown>>(fields: F, open: readonly string[]): F {
  const wrapped: Record<string, unknown> = {};
  for (const [name, resolver] of Object.entries(fields)) {
    wrapped[name] = typeof resolver !== 'function' || open.includes(name) ? resolver : (parent: unknown, ...rest: unknown[]) => {
      if (typeof parent === 'object' && parent !== null && limitedViews.has(parent)) {
        throw new ForbiddenError('A member may read only its own account');
      }
      return (resolver as (...args: unknown[]) => unknown)(parent, ...rest);
    };
  }
  return wrapped as F;
}
