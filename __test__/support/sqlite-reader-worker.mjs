// A read-only better-sqlite3 connection to the file named by its first
// argument, in a process of its own (see ipc-worker.mjs): the raw key texts
// of the SQLite layout, for properties.test.mjs, while fedikv has the file
// open in the test's process.
import Database from "better-sqlite3";
import { serve } from "./ipc-worker.mjs";

const db = new Database(process.argv[2], { readonly: true, fileMustExist: true });
const byKey = db.prepare("SELECT key FROM fedify_kv WHERE key = ?").pluck();

serve({ read: (keyJson) => byKey.get(keyJson) }, () => db.close());
