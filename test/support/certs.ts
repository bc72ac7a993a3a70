import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const openssl = (...args: string[]) => promisify(execFile)("openssl", args);

export interface KeyPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestCertificates {
  readonly caFile: string;
  readonly ca: Buffer;
  /** For 127.0.0.1 and localhost, signed by the CA. */
  readonly server: KeyPair;
  /** Client certificates signed by the CA, by common name. */
  client(commonName: string): Promise<KeyPair>;
  /** A client certificate signed by the CA, with this subject (`/O=Acme/OU=ops`), under this file name. */
  clientWithSubject(name: string, subject: string): Promise<KeyPair>;
}

async function keyPair(dir: string, name: string, subject: string): Promise<[string, string]> {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  await openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csrFile,
    "-subj",
    subject,
  );
  return [keyFile, csrFile];
}

async function load(certFile: string, keyFile: string): Promise<KeyPair> {
  return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
}

/**
 * A throwaway CA with a server and client certificates, made now with
 * `openssl` (EC P-256, valid one day) in a temp folder.
 */
export async function makeCertificates(caName = "Export Test CA"): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "certs-"));
  const caFile = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "1",
    "-subj",
    `/CN=${caName}`,
  );
  const sign = async (name: string, subject: string, extensions: string) => {
    const [keyFile, csrFile] = await keyPair(dir, name, subject);
    const extFile = join(dir, `${name}.ext`);
    await writeFile(extFile, extensions);
    const certFile = join(dir, `${name}.pem`);
    await openssl(
      "x509",
      "-req",
      "-in",
      csrFile,
      "-CA",
      caFile,
      "-CAkey",
      caKey,
      "-CAcreateserial",
      "-out",
      certFile,
      "-days",
      "1",
      "-extfile",
      extFile,
    );
    return load(certFile, keyFile);
  };
  const server = await sign(
    "server",
    "/CN=localhost",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  return {
    caFile,
    ca: await readFile(caFile),
    server,
    client: (commonName) =>
      sign(
        `client-${commonName}`,
        `/CN=${commonName}/O=Export Tests`,
        "extendedKeyUsage=clientAuth\n",
      ),
    clientWithSubject: (name, subject) =>
      sign(`client-${name}`, subject, "extendedKeyUsage=clientAuth\n"),
  };
}
