/** Whether the tests run on a PostgreSQL server (TEST_DATABASE_URL) rather than on PGlite's one connection. */
export const onServer = Boolean(process.env.TEST_DATABASE_URL);

/** A test that means something only on a server (requests racing, shared connections): on PGlite it is skipped, and reported so. */
export const serverTest = onServer ? test : test.skip;
