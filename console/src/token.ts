/**
 * The Authorization header for a pasted token: "Bearer <jwt>", whether the paste carried the
 * prefix or not (npm run token prints the bare token); empty for an empty paste.
 */
export function bearer(pasted: string): string {
  const token = bareToken(pasted);
  return token ? `Bearer ${token}` : '';
}

/** The JWT alone: surrounding space, quotes and a "Bearer " prefix removed. */
export function bareToken(pasted: string): string {
  return pasted.trim().replace(/^["']|["']$/g, '').replace(/^Bearer\s+/i, '').trim();
}

export interface TokenClaims {
  role?: string;
  sub?: string;
  exp?: number;
}

/** The claims a JWT carries, read without verifying it (the server verifies); null when it is not a JWT. */
export function readClaims(token: string): TokenClaims | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const claims: unknown = JSON.parse(json);
    return typeof claims === 'object' && claims !== null ? (claims as TokenClaims) : null;
  } catch {
    return null;
  }
}
