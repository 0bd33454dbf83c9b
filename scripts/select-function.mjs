// Prints the objects of one function (label ticketing.dev/function=<name>) from multi-document YAML
// on standard input, so that a deploy applies, and a dry run shows, exactly those.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const yaml = createRequire(import.meta.url)("js-yaml");
const name = process.argv[2];
const selected = yaml
  .loadAll(readFileSync(0, "utf8"))
  .filter((o) => o?.metadata?.labels?.["ticketing.dev/function"] === name);
if (selected.length === 0) {
  console.error(`no objects labelled ticketing.dev/function=${name}`);
  process.exit(2);
}
process.stdout.write(selected.map((o) => yaml.dump(o)).join("---\n"));
