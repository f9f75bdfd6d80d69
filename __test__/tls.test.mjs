// TLS and password authentication against the test's own servers: a CA and
// a server certificate made here with the openssl command, each server
// configured with them (and with a user that may only connect over TLS,
// which proves the connection was encrypted), and every store verifying
// the server's certificate against that CA. A wrong CA, a wrong password
// or a refused plain connection is ERR_FEDIKV_CONNECTION with a clear
// message that holds no password.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { MysqlKvStore, PostgresKvStore, RedisKvStore } from "fedikv";
import {
  makeCertificates,
  missingBinaries,
  startMariadb,
  startPostgres,
  startRedis,
  tempDir,
} from "./support/own-servers.mjs";

const PASSWORD = "tls-secret-pw";
const TIMEOUTS = { connectTimeout: 3000 };

let certs;
before(async () => {
  if (missingBinaries("openssl") === undefined) certs = await makeCertificates(tempDir("certs"));
});

/** Runs a write and a read; closes the store. */
async function works(kv) {
  try {
    await kv.set(["tls", "k"], { ok: true });
    assert.deepEqual(await kv.get(["tls", "k"]), { ok: true });
    await kv.drop();
  } finally {
    await kv.close();
  }
}

/** The first operation rejects with ERR_FEDIKV_CONNECTION matching `pattern`, without the password. */
async function refused(kv, pattern) {
  try {
    await assert.rejects(kv.get(["tls", "k"]), (error) => {
      assert.equal(error.code, "ERR_FEDIKV_CONNECTION", error.message);
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, new RegExp(PASSWORD));
      return true;
    });
  } finally {
    await kv.close();
  }
}

const invalidOption = (error) => {
  assert.ok(error instanceof TypeError, String(error));
  assert.equal(error.code, "ERR_FEDIKV_INVALID_OPTION");
  assert.doesNotMatch(error.message, new RegExp(PASSWORD));
  return true;
};

const BAD_CERTIFICATE = /certificate|UnknownIssuer|issuer/i;

describe("RedisKvStore over TLS (rediss://)", { skip: missingBinaries("redis", "openssl") }, () => {
  let server;
  before(async () => {
    server = await startRedis({ appendonly: false, password: PASSWORD, tls: certs });
  });
  after(() => server?.stop());

  test("trusting the server's CA (tls.ca as a Buffer or a string), with the password", async () => {
    await works(new RedisKvStore(server.tlsUrl, { ...TIMEOUTS, tls: { ca: readFileSync(certs.ca) } }));
    await works(new RedisKvStore(server.tlsUrl, { ...TIMEOUTS, tls: { ca: readFileSync(certs.ca, "utf8") } }));
  });

  test("a CA that did not sign the server's certificate is refused", async () => {
    await refused(
      new RedisKvStore(server.tlsUrl, { ...TIMEOUTS, tls: { ca: readFileSync(certs.otherCa) } }),
      BAD_CERTIFICATE,
    );
  });

  test("without tls.ca the system's CAs are used, and they do not know this one", async () => {
    await refused(new RedisKvStore(server.tlsUrl, TIMEOUTS), BAD_CERTIFICATE);
  });

  test("a wrong password is refused, and not shown", async () => {
    const url = server.tlsUrl.replace(encodeURIComponent(PASSWORD), "wrong-password");
    await refused(
      new RedisKvStore(url, { ...TIMEOUTS, tls: { ca: readFileSync(certs.ca) } }),
      /WRONGPASS|password|auth/i,
    );
    await refused(
      new RedisKvStore(server.url.replace(`:${encodeURIComponent(PASSWORD)}@`, ""), TIMEOUTS),
      /NOAUTH|auth/i,
    );
  });

  test("a client certificate (tls.cert + tls.key) for a server that asks for one", async () => {
    const strict = await startRedis({ appendonly: false, password: PASSWORD, tls: certs, clientCertificates: true });
    try {
      const tls = {
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.clientCert),
        key: readFileSync(certs.clientKey),
      };
      await works(new RedisKvStore(strict.tlsUrl, { ...TIMEOUTS, tls }));
      await refused(
        new RedisKvStore(strict.tlsUrl, { ...TIMEOUTS, tls: { ca: tls.ca } }),
        /certificate|reset|closed|broken|tls|eof/i,
      );
    } finally {
      await strict.stop();
    }
  });

  test("bad TLS options are TypeErrors at construction", () => {
    assert.throws(() => new RedisKvStore(server.url, { tls: { ca: readFileSync(certs.ca) } }), invalidOption);
    assert.throws(() => new RedisKvStore(server.tlsUrl, { tls: { ca: "not a certificate" } }), invalidOption);
    assert.throws(() => new RedisKvStore(server.tlsUrl, { tls: { ca: 42 } }), invalidOption);
    assert.throws(() => new RedisKvStore(server.tlsUrl, { tls: { cert: readFileSync(certs.cert) } }), invalidOption);
    assert.throws(() => new RedisKvStore(server.tlsUrl, { tls: "yes" }), invalidOption);
  });
});

describe("PostgresKvStore over TLS (sslmode)", { skip: missingBinaries("postgres", "openssl") }, () => {
  let server;
  before(async () => {
    server = await startPostgres({ password: PASSWORD, tls: certs });
  });
  after(() => server?.stop());

  // tls_only may connect only over TLS (pg_hba: hostnossl … reject).
  const url = (params) => `${server.tlsOnlyUrl}?${params}`;

  test("sslmode=verify-full / verify-ca with sslrootcert, and require, with the password", async () => {
    await works(new PostgresKvStore(url(`sslmode=verify-full&sslrootcert=${certs.ca}`), TIMEOUTS));
    await works(new PostgresKvStore(url(`sslmode=verify-ca&sslrootcert=${certs.ca}`), TIMEOUTS));
    await works(new PostgresKvStore(url("sslmode=require"), TIMEOUTS));
  });

  test("a CA that did not sign the server's certificate is refused", async () => {
    await refused(
      new PostgresKvStore(url(`sslmode=verify-full&sslrootcert=${certs.otherCa}`), TIMEOUTS),
      BAD_CERTIFICATE,
    );
    await refused(new PostgresKvStore(url("sslmode=verify-full"), TIMEOUTS), BAD_CERTIFICATE);
  });

  test("a plain connection is refused for a TLS-only user", async () => {
    await refused(new PostgresKvStore(url("sslmode=disable"), TIMEOUTS), /pg_hba|no encryption|SSL/i);
  });

  test("a wrong password is refused, and not shown", async () => {
    const wrong = server.url.replace(encodeURIComponent(PASSWORD), "wrong-password");
    await refused(new PostgresKvStore(wrong, TIMEOUTS), /password/i);
  });

  test("a certificate file that does not exist is a TypeError at construction", () => {
    assert.throws(() => new PostgresKvStore(url("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")), invalidOption);
  });
});

describe("MysqlKvStore over TLS (ssl-mode), MariaDB", { skip: missingBinaries("mariadb", "openssl") }, () => {
  let server;
  before(async () => {
    server = await startMariadb({ password: PASSWORD, tls: certs });
  });
  after(() => server?.stop());

  // tls_only is created REQUIRE SSL.
  const url = (params) => `${server.tlsOnlyUrl}?${params}`;

  test("ssl-mode=verify_identity / verify_ca with ssl-ca, and required, with the password", async () => {
    await works(new MysqlKvStore(url(`ssl-mode=verify_identity&ssl-ca=${certs.ca}`), TIMEOUTS));
    await works(new MysqlKvStore(url(`ssl-mode=verify_ca&ssl-ca=${certs.ca}`), TIMEOUTS));
    await works(new MysqlKvStore(url("ssl-mode=required"), TIMEOUTS));
  });

  test("a CA that did not sign the server's certificate is refused", async () => {
    await refused(new MysqlKvStore(url(`ssl-mode=verify_identity&ssl-ca=${certs.otherCa}`), TIMEOUTS), BAD_CERTIFICATE);
    await refused(new MysqlKvStore(url("ssl-mode=verify_identity"), TIMEOUTS), BAD_CERTIFICATE);
  });

  test("a plain connection is refused for a TLS-only user", async () => {
    await refused(new MysqlKvStore(url("ssl-mode=disabled"), TIMEOUTS), /Access denied/i);
  });

  test("a wrong password is refused, and not shown", async () => {
    const wrong = server.url.replace(encodeURIComponent(PASSWORD), "wrong-password");
    await refused(new MysqlKvStore(wrong, TIMEOUTS), /Access denied/i);
  });

  test("a certificate file that does not exist is a TypeError at construction", () => {
    assert.throws(() => new MysqlKvStore(url("ssl-mode=verify_identity&ssl-ca=/nonexistent/ca.pem")), invalidOption);
  });
});
