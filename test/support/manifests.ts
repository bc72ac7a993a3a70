import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { PROJECT_ROOT } from "./child-server.js";

export const KUBERNETES_DIR = join(PROJECT_ROOT, "deploy/kubernetes");

/**
 * The parts of Kubernetes objects the tests read; everything optional, as
 * parsed YAML is. A selector is `matchLabels` (workloads, budgets) or the
 * labels themselves (Services).
 */
export interface Selector {
  matchLabels?: Record<string, string>;
  [label: string]: unknown;
}

export interface GrpcProbe {
  grpc?: { port?: number; service?: string };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface Container {
  image?: string;
  ports?: { name?: string; containerPort?: number }[];
  env?: { name: string; value?: string }[];
  resources?: {
    requests?: Record<string, string>;
    limits?: Record<string, string>;
  };
  readinessProbe?: GrpcProbe;
  livenessProbe?: GrpcProbe;
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: Selector;
    minReplicas?: number;
    maxReplicas?: number;
    maxUnavailable?: number;
    ports?: { name?: string; port?: number; targetPort?: string | number; appProtocol?: string }[];
    scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
    metrics?: {
      type?: string;
      pods?: { metric?: { name?: string }; target?: { averageValue?: string } };
    }[];
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number };
        containers?: Container[];
      };
    };
  };
}

export interface Manifest {
  readonly file: string;
  readonly object: KubeObject;
}

/** Every YAML file's text under `dir`, by path relative to it. */
export function yamlFiles(dir = KUBERNETES_DIR): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), readFileSync(path, "utf8"));
  }
  return files;
}

/** Parses every document of a YAML text, failing on any error or warning. */
export function parseYamlDocuments(text: string, file: string): unknown[] {
  return parseAllDocuments(text).map((document) => {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0) throw new Error(`${file}: ${problems.map((p) => p.message)}`);
    return document.toJS() as unknown;
  });
}

/** The objects `kubectl apply -f deploy/kubernetes/` applies: the folder's own files, not subfolders. */
export function loadManifests(): Manifest[] {
  return [...yamlFiles()]
    .filter(([file]) => !file.includes("/"))
    .flatMap(([file, text]) =>
      parseYamlDocuments(text, file).map((object) => ({ file, object: object as KubeObject })),
    );
}

export function manifestsOfKind(manifests: readonly Manifest[], kind: string): KubeObject[] {
  return manifests.filter((manifest) => manifest.object.kind === kind).map((m) => m.object);
}

/** The Deployment's one container. */
export function serverContainer(manifests: readonly Manifest[]): Container {
  const [deployment, ...others] = manifestsOfKind(manifests, "Deployment");
  const containers = deployment?.spec?.template?.spec?.containers ?? [];
  if (others.length > 0 || containers.length !== 1) {
    throw new Error("expected one Deployment with one container");
  }
  return containers[0] as Container;
}

/** The container's environment, as the server process sees it. */
export function containerEnv(container: Container): Record<string, string> {
  return Object.fromEntries((container.env ?? []).map(({ name, value }) => [name, value ?? ""]));
}

const UNITS: Record<string, number> = {
  "": 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  k: 1e3,
  M: 1e6,
  G: 1e9,
};

/** A Kubernetes memory quantity ("256Mi") in bytes. */
export function bytesOf(quantity: string | undefined): number {
  const match = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity ?? "");
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  return Number(match[1]) * (UNITS[match[2] ?? ""] as number);
}
