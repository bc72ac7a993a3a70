import {
  create,
  createFileRegistry,
  type DescFile,
  type DescService,
  type FileRegistry,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflectionResponseSchema as ServerReflectionResponseV1Schema,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionResponseSchema as ServerReflectionResponseV1alphaSchema,
  ServerReflection as ServerReflectionV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The reflection services' fully qualified names, both versions. */
export const REFLECTION_SERVICES = [
  ServerReflectionV1.typeName,
  ServerReflectionV1alpha.typeName,
] as const;

export interface ReflectionOptions {
  /**
   * Files to serve beyond those of the registered services, e.g. the
   * google.rpc error details this server attaches to errors, so that a
   * client can decode them. Default none.
   */
  readonly extraFiles?: readonly DescFile[];
}

/** A reflection request, the same in v1 and v1alpha. */
export type ReflectionQuery =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | {
      case: "fileContainingExtension";
      value: { containingType: string; extensionNumber: number };
    }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** A reflection answer, the same in v1 and v1alpha. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: "allExtensionNumbersResponse";
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

export interface Reflector {
  answer(query: ReflectionQuery): ReflectionAnswer;
}

/** Dependencies before the files that import them, each file once. */
function withDependencies(roots: Iterable<DescFile>): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file);
  };
  for (const root of roots) visit(root);
  return ordered;
}

function notFound(message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

/** The parent scope of a full name: `a.b.C` → `a.b`. */
function scopeOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(0, dot);
}

/**
 * Answers reflection queries about the given services and everything their
 * files import, from protobuf-es descriptors. Files are sent as
 * `toBinary(FileDescriptorProtoSchema, file.proto)`, the requested file first
 * and then its transitive dependencies, which is the order grpcurl expects.
 */
export function createReflector(
  services: readonly DescService[],
  extraFiles: readonly DescFile[] = [],
): Reflector {
  const roots = [...services.map((service) => service.file), ...extraFiles];
  const registry: FileRegistry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: withDependencies(roots).map((file) => file.proto) }),
  );
  const serviceNames = [...new Set(services.map((service) => service.typeName))].sort();
  const encoded = new Map<string, Uint8Array>();

  function fileResponse(file: DescFile): ReflectionAnswer {
    const files = withDependencies([file]).reverse();
    return {
      case: "fileDescriptorResponse",
      value: {
        fileDescriptorProto: files.map((each) => {
          let bytes = encoded.get(each.proto.name);
          if (!bytes) {
            bytes = toBinary(FileDescriptorProtoSchema, each.proto);
            encoded.set(each.proto.name, bytes);
          }
          return bytes;
        }),
      },
    };
  }

  /** Types by `registry.get`; methods, fields, oneofs and enum values by their parent. */
  function fileOfSymbol(symbol: string): DescFile | undefined {
    const type = registry.get(symbol);
    if (type) return type.file;
    const parent = registry.get(scopeOf(symbol));
    const member = symbol.slice(symbol.lastIndexOf(".") + 1);
    if (parent?.kind === "service" && parent.methods.some((method) => method.name === member)) {
      return parent.file;
    }
    if (
      parent?.kind === "message" &&
      (parent.fields.some((field) => field.name === member) ||
        parent.oneofs.some((oneof) => oneof.name === member))
    ) {
      return parent.file;
    }
    // An enum value is scoped beside its enum, not inside it: pkg.FORMAT_CSV.
    for (const candidate of registry) {
      if (
        candidate.kind === "enum" &&
        scopeOf(candidate.typeName) === scopeOf(symbol) &&
        candidate.values.some((value) => value.name === member)
      ) {
        return candidate.file;
      }
    }
    return undefined;
  }

  return {
    answer(query) {
      switch (query.case) {
        case "listServices":
          return {
            case: "listServicesResponse",
            value: { service: serviceNames.map((name) => ({ name })) },
          };
        case "fileByFilename": {
          const file = registry.getFile(query.value);
          return file ? fileResponse(file) : notFound(`file ${query.value} not found`);
        }
        case "fileContainingSymbol": {
          const file = fileOfSymbol(query.value);
          return file ? fileResponse(file) : notFound(`symbol ${query.value} not found`);
        }
        case "fileContainingExtension": {
          const { containingType, extensionNumber } = query.value;
          const message = registry.getMessage(containingType);
          const extension = message && registry.getExtensionFor(message, extensionNumber);
          return extension
            ? fileResponse(extension.file)
            : notFound(`extension ${extensionNumber} of ${containingType} not found`);
        }
        case "allExtensionNumbersOfType": {
          const message = registry.getMessage(query.value);
          if (!message) return notFound(`type ${query.value} not found`);
          const numbers: number[] = [];
          for (const candidate of registry) {
            if (
              candidate.kind === "extension" &&
              candidate.extendee.typeName === message.typeName
            ) {
              numbers.push(candidate.number);
            }
          }
          return {
            case: "allExtensionNumbersResponse",
            value: {
              baseTypeName: message.typeName,
              extensionNumber: numbers.sort((a, b) => a - b),
            },
          };
        }
        default:
          return {
            case: "errorResponse",
            value: {
              errorCode: Code.InvalidArgument,
              errorMessage: "set one of the message_request fields",
            },
          };
      }
    },
  };
}

/**
 * Registers gRPC server reflection, `grpc.reflection.v1.ServerReflection` and
 * the older `grpc.reflection.v1alpha.ServerReflection` (the same protocol,
 * for clients that speak only it), so that grpcurl and similar tools work
 * without proto files. It describes every service on the router, itself
 * included, read from `router.handlers` at the first request: register it
 * with the other services, in any order.
 */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions = {}): void {
  let reflector: Reflector | undefined;
  const answer = (query: ReflectionQuery): ReflectionAnswer => {
    reflector ??= createReflector(
      router.handlers.map((handler) => handler.service),
      options.extraFiles,
    );
    return reflector.answer(query);
  };
  router.service(ServerReflectionV1, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(ServerReflectionResponseV1Schema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(request.messageRequest),
        });
      }
    },
  });
  router.service(ServerReflectionV1alpha, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(ServerReflectionResponseV1alphaSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(request.messageRequest),
        });
      }
    },
  });
}
