import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportService } from "../../gen/export/v1/export_pb.js";
import { type Config, loadConfig } from "../../src/config.js";
import { PROJECT_ROOT } from "../support/child-server.js";
import { parseDockerfile } from "../support/dockerfile.js";
import {
  bytesOf,
  type Container,
  containerEnv,
  type KubeObject,
  loadManifests,
  type Manifest,
  manifestsOfKind,
  parseYamlDocuments,
  type Selector,
  serverContainer,
} from "../support/manifests.js";
import { metricTypes, scrape } from "../support/metrics.js";
import { type RunningServer, startServer } from "../support/server.js";

/**
 * deploy/kubernetes/ against itself, the server's defaults, the Dockerfile
 * and the README: a port, label or grace period changed in one place must
 * be changed everywhere.
 */

const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
const deploymentSection = readme.slice(
  readme.indexOf("\n## Deployment\n"),
  readme.indexOf("\n## Development\n"),
);
const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as {
  version: string;
};
const dockerfile = parseDockerfile(readFileSync(join(PROJECT_ROOT, "Dockerfile"), "utf8"));

let manifests: Manifest[];
let deployment: KubeObject;
let container: Container;
let config: Config;
beforeAll(() => {
  manifests = loadManifests();
  deployment = manifestsOfKind(manifests, "Deployment")[0] as KubeObject;
  container = serverContainer(manifests);
  // The server's own reading of the container's environment.
  config = loadConfig([], containerEnv(container));
});

function podLabels(): Record<string, string> {
  return deployment.spec?.template?.metadata?.labels ?? {};
}

/** The labels a selector asks for: `matchLabels`, or a Service's plain map. */
function selected(selector: Selector | undefined): Record<string, string> {
  if (selector?.matchLabels) return selector.matchLabels;
  return Object.fromEntries(
    Object.entries(selector ?? {}).filter((entry): entry is [string, string] => {
      return typeof entry[1] === "string";
    }),
  );
}

function containerPort(name: string): number | undefined {
  return container.ports?.find((port) => port.name === name)?.containerPort;
}

/** Seconds the preStop hook holds the pod before SIGTERM: `sleep N`. */
function preStopSeconds(): number {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  expect(command).toHaveLength(2);
  expect(command[0]).toBe("sleep");
  return Number(command[1]);
}

describe("deploy/kubernetes", () => {
  it("parses, every document a Kubernetes object with a name and the app's labels", () => {
    const kinds = manifests.map(({ object }) => object.kind).sort();
    expect(kinds).toEqual([
      "Deployment",
      "HorizontalPodAutoscaler",
      "PodDisruptionBudget",
      "Service",
      "Service",
    ]);
    for (const { file, object } of manifests) {
      expect(object.apiVersion, file).toMatch(/^[a-z0-9./]+$/);
      expect(object.metadata?.name, file).toMatch(/^export-at-scale/);
      expect(object.metadata?.labels, file).toEqual(podLabels());
    }
  });

  it("selects the Deployment's pods from every Service, the budget and the autoscaler", () => {
    const labels = podLabels();
    expect(Object.keys(labels).length).toBeGreaterThan(0);
    expect(selected(deployment.spec?.selector)).toEqual(labels);
    for (const service of manifestsOfKind(manifests, "Service")) {
      expect(selected(service.spec?.selector)).toEqual(labels);
    }
    const [budget] = manifestsOfKind(manifests, "PodDisruptionBudget");
    expect(selected(budget?.spec?.selector)).toEqual(labels);
    const [autoscaler] = manifestsOfKind(manifests, "HorizontalPodAutoscaler");
    expect(autoscaler?.spec?.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: deployment.metadata?.name,
    });
  });

  it("uses the server's ports everywhere: container, probes, Services, scrape annotations, image", () => {
    const defaults = loadConfig([], {});
    expect([config.port, config.metricsPort]).toEqual([defaults.port, defaults.metricsPort]);
    expect(container.ports).toEqual([
      { name: "grpc", containerPort: config.port },
      { name: "metrics", containerPort: config.metricsPort },
    ]);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      // Native gRPC probes take a port number, never a name.
      expect(probe?.grpc).toEqual({ port: config.port, service: ExportService.typeName });
    }
    for (const service of manifestsOfKind(manifests, "Service")) {
      for (const port of service.spec?.ports ?? []) {
        expect(containerPort(String(port.targetPort)), `${port.name}`).toBe(port.port);
      }
      expect(service.spec?.ports?.find((port) => port.name === "grpc")?.appProtocol).toBe("grpc");
      // The side port is reached pod by pod, never through a Service.
      expect(service.spec?.ports?.map((port) => port.port)).toEqual([config.port]);
    }
    const annotations = deployment.spec?.template?.metadata?.annotations ?? {};
    expect(annotations).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": String(config.metricsPort),
      "prometheus.io/path": "/metrics",
    });
    const exposed = dockerfile.stages.at(-1)?.instructions.flatMap((step) => {
      return step.kind === "expose" ? step.ports : [];
    });
    expect(exposed).toEqual([config.port, config.metricsPort]);
  });

  it("gives the pod longer to stop than the preStop pause plus SHUTDOWN_GRACE_MS", () => {
    const grace = deployment.spec?.template?.spec?.terminationGracePeriodSeconds ?? 0;
    expect(grace * 1000).toBeGreaterThan(preStopSeconds() * 1000 + config.shutdownGraceMs);
    // Readiness must notice a drain before the kubelet's SIGKILL could.
    const readiness = container.readinessProbe;
    const noticedWithin = (readiness?.periodSeconds ?? 10) * (readiness?.failureThreshold ?? 3);
    expect(noticedWithin * 1000).toBeLessThan(config.shutdownGraceMs);
  });

  it("runs as the image's non-root user on a read-only root filesystem", () => {
    const user = dockerfile.stages.at(-1)?.instructions.find((step) => step.kind === "user");
    const [uid, gid] = (user?.kind === "user" ? user.user : "").split(":").map(Number);
    expect(deployment.spec?.template?.spec?.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: uid,
      runAsGroup: gid,
    });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.image).toBe(`export-at-scale:${pkg.version}`);
  });

  it("caps the V8 heap inside the memory limit, which is at least the request", () => {
    const request = bytesOf(container.resources?.requests?.memory);
    const limit = bytesOf(container.resources?.limits?.memory);
    expect(limit).toBeGreaterThanOrEqual(request);
    const oldSpace = /--max-old-space-size=(\d+)/.exec(containerEnv(container).NODE_OPTIONS ?? "");
    expect(Number(oldSpace?.[1]) * 2 ** 20).toBeLessThan(limit);
  });

  it("scales before refusing, and keeps capacity through a voluntary disruption", () => {
    const [autoscaler] = manifestsOfKind(manifests, "HorizontalPodAutoscaler");
    const running = autoscaler?.spec?.metrics?.find((metric) => metric.type === "Pods")?.pods;
    expect(running?.metric?.name).toBe("export_running");
    expect(Number(running?.target?.averageValue)).toBeLessThan(config.maxConcurrentExports);
    const minReplicas = autoscaler?.spec?.minReplicas ?? 0;
    expect(minReplicas).toBeLessThanOrEqual(deployment.spec?.replicas ?? 0);
    const [budget] = manifestsOfKind(manifests, "PodDisruptionBudget");
    expect(budget?.spec?.maxUnavailable).toBeLessThan(minReplicas);
  });
});

describe("the prometheus-adapter rule", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer();
  });
  afterAll(() => running.close());

  it("serves the autoscaler's metric, a gauge the server exports, per pod", async () => {
    const [values] = parseYamlDocuments(
      readFileSync(join(PROJECT_ROOT, "deploy/kubernetes/prometheus-adapter/values.yaml"), "utf8"),
      "values.yaml",
    ) as [{ rules: { default: boolean; custom: Record<string, unknown>[] } }];
    const [rule] = values.rules.custom as [
      { seriesQuery: string; name: { as: string }; resources: { overrides: object } },
    ];
    const [autoscaler] = manifestsOfKind(manifests, "HorizontalPodAutoscaler");
    const metric = autoscaler?.spec?.metrics?.find((m) => m.type === "Pods")?.pods?.metric?.name;
    expect(rule.name.as).toBe(metric);
    expect(rule.seriesQuery).toMatch(new RegExp(`^${metric}\\{`));
    expect(rule.resources.overrides).toEqual({
      namespace: { resource: "namespace" },
      pod: { resource: "pod" },
    });
    const types = metricTypes(await scrape(running.metricsUrl));
    expect(types.get(metric as string)).toBe("gauge");
  });
});

describe("README's Deployment section", () => {
  it("states the figures the manifests and the Dockerfile use", () => {
    const [autoscaler] = manifestsOfKind(manifests, "HorizontalPodAutoscaler");
    const target = autoscaler?.spec?.metrics?.find((m) => m.type === "Pods")?.pods;
    const grace = deployment.spec?.template?.spec?.terminationGracePeriodSeconds;
    const oldSpace = /--max-old-space-size=(\d+)/.exec(containerEnv(container).NODE_OPTIONS ?? "");
    const user = dockerfile.stages.at(-1)?.instructions.find((step) => step.kind === "user");
    const stopTimeout = Number(/--stop-timeout (\d+)/.exec(deploymentSection)?.[1]);
    for (const claim of [
      `docker build -t export-at-scale:${pkg.version} .`,
      `on \`${dockerfile.stages.at(-1)?.image}\``,
      `runs as uid ${user?.kind === "user" ? user.user.split(":")[0] : "?"}`,
      `exposes ${config.port} (gRPC) and ${config.metricsPort}`,
      `\`SHUTDOWN_GRACE_MS\` (${config.shutdownGraceMs / 1000} s)`,
      `a ${preStopSeconds()} s \`preStop\` pause`,
      `\`terminationGracePeriodSeconds: ${grace}\``,
      `memory request ${container.resources?.requests?.memory} and limit ${container.resources?.limits?.memory}`,
      `old space capped at ${oldSpace?.[1]} MiB`,
      `scales from ${autoscaler?.spec?.minReplicas} to ${autoscaler?.spec?.maxReplicas} pods on \`${target?.metric?.name}\` (average ${target?.target?.averageValue} of the ${config.maxConcurrentExports} slots per pod)`,
      `against the ${container.resources?.limits?.memory} limit`,
    ]) {
      expect(deploymentSection).toContain(claim);
    }
    expect(stopTimeout * 1000).toBeGreaterThan(config.shutdownGraceMs);
  });
});
