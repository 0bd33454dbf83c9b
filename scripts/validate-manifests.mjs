// Validates Kubernetes and Knative objects (multi-document YAML on standard input) against their
// published schemas, offline, with the @kubernetes-models packages. Prints one line per invalid
// object and exits 1 if there is any.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const yaml = require("js-yaml");

function modelModule(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "") return require(`kubernetes-models/${version}`);
  if (group.endsWith("knative.dev")) return require(`@kubernetes-models/knative/${group}/${version}`);
  if (!group.includes(".") || group.endsWith(".k8s.io")) return require(`kubernetes-models/${group}/${version}`);
  throw new Error(`no schema for ${apiVersion}`);
}

const documents = yaml.loadAll(readFileSync(0, "utf8")).filter(Boolean);
let invalid = 0;
for (const object of documents) {
  const label = `${object.kind ?? "?"} ${object.metadata?.name ?? "?"}`;
  try {
    const Model = modelModule(object.apiVersion ?? "")[object.kind];
    if (!Model) throw new Error(`no schema for kind ${object.kind} in ${object.apiVersion}`);
    new Model(object).validate();
  } catch (error) {
    invalid += 1;
    console.log(`${label}: ${String(error.message ?? error).split("\n").slice(0, 4).join(" ")}`);
  }
}
console.log(`${documents.length} objects, ${invalid} invalid`);
process.exit(invalid ? 1 : 0);
