/**
 * The console's only way to the server: GraphQL over fetch to this origin's /graphql, with the
 * pasted ADMIN token. The token lives in sessionStorage, so it is gone when the tab closes.
 */
import { bareToken, readClaims } from './token';

const TOKEN_KEY = 'milepost.console.token';

export const tokenStore = {
  token(): string {
    try { return sessionStorage.getItem(TOKEN_KEY) ?? ''; } catch { return ''; }
  },
  save(token: string): void {
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage refused: this page only */ }
  },
  clear(): void {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* nothing kept */ }
  },
};

/** A GraphQL error as the contract names it: `code` from extensions, `field` when an input was at fault. */
export class ApiError extends Error {
  constructor(message: string, readonly code: string, readonly field?: string) {
    super(message);
  }
}

let signedOut: (reason: string) => void = () => {};

/** Called when the API refuses the token while the console is open (expired, revoked), with a reason to show. */
export function onSignedOut(listener: (reason: string) => void): void {
  signedOut = listener;
}

export const EXPIRED = 'Your token has expired. Make a new one with `npm run -s token -- --role ADMIN` and sign in again.';

/** Runs one operation; resolves with `data`, or rejects with the first error as an ApiError. */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const token = tokenStore.token();
  // Signed out meanwhile (another request found the token expired): nothing to send.
  if (!token) throw new ApiError('Not signed in', 'UNAUTHENTICATED');
  const exp = readClaims(token)?.exp;
  if (exp !== undefined && exp * 1000 <= Date.now()) {
    tokenStore.clear();
    signedOut(EXPIRED);
    throw new ApiError(EXPIRED, 'UNAUTHENTICATED');
  }
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  let body: { data?: T; errors?: { message: string; extensions?: { code?: string; field?: string } }[] };
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`The API answered HTTP ${res.status} without a GraphQL body`, 'INTERNAL_SERVER_ERROR');
  }
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? 'INTERNAL_SERVER_ERROR';
    if (code === 'UNAUTHENTICATED') {
      tokenStore.clear();
      const expired = exp !== undefined && exp * 1000 <= Date.now();
      signedOut(expired ? EXPIRED : `The API no longer accepts your token (${error.message}). Sign in again with a fresh ADMIN token.`);
    }
    const field = error.extensions?.field?.replace(/^input\./, '');
    throw new ApiError(error.message, code, field);
  }
  return body.data as T;
}

/**
 * Checks a pasted token before keeping it: a JWT, not expired, of the ADMIN role, and accepted
 * by the API. Resolves with the bare token, or rejects with a message for the sign-in form.
 */
export async function signIn(pasted: string): Promise<string> {
  const token = bareToken(pasted);
  const claims = readClaims(token);
  if (!claims) throw new Error('That is not a token. Paste the output of `npm run -s token -- --role ADMIN`.');
  if (claims.exp !== undefined && claims.exp * 1000 <= Date.now()) throw new Error(EXPIRED);
  if (claims.role !== 'ADMIN') {
    throw new Error(`This is a ${claims.role ?? 'role-less'} token: the console needs an ADMIN token (npm run -s token -- --role ADMIN).`);
  }
  tokenStore.save(token);
  try {
    // Only an administrator may list partners: the API itself confirms the role.
    await gql('query SignInCheck { partners { partnerId } }');
  } catch (error) {
    tokenStore.clear();
    if (error instanceof ApiError && error.code === 'FORBIDDEN') throw new Error('The API does not treat this token as ADMIN: the console needs an ADMIN token.');
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') throw new Error(`The API refused this token: ${error.message}.`);
    throw error;
  }
  return token;
}

/** A fresh idempotency key for one user action: a retry of the same action reuses it. */
export function actionKey(prefix: string): string {
  return `console-${prefix}-${crypto.randomUUID()}`;
}

/** A text file the API serves beside GraphQL (the settlement CSV), fetched with the same token. */
export async function fetchText(path: string): Promise<string> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${tokenStore.token()}` } });
  const text = await res.text();
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try { message = (JSON.parse(text) as { errors?: { message: string }[] }).errors?.[0]?.message ?? message; } catch { /* not JSON */ }
    throw new ApiError(message, res.status === 401 ? 'UNAUTHENTICATED' : 'BAD_USER_INPUT');
  }
  return text;
}
