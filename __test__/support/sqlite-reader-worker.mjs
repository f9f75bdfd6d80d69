// A read-only connection (the tests' own SQLite, sqlite.mjs) to the file
// named by its first argument, in a process of its own (see
// ipc-worker.mjs): raw rows of a file fedikv or Deno KV has open in the
// test's process. `all(sql, ...params)` and `get(sql, ...params)` answer
// with the rows as plain objects.
import { serve } from "./ipc-worker.mjs";
import { openSqlite } from "./sqlite.mjs";

const db = openSqlite(process.argv[2], { readonly: true });
const plain = (row) => (row == null ? undefined : { ...row });

serve(
  {
    all: (sql, ...params) =>
      db
        .prepare(sql)
        .all(...params)
        .map(plain),
    get: (sql, ...params) => plain(db.prepare(sql).get(...params)),
  },
  () => db.close(),
);
