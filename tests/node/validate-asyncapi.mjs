// Checks an AsyncAPI document with the AsyncAPI Initiative's own parser: exit 1 and the
// problems on stdout when it has an error-level diagnostic.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const ERROR = 0; // the parser's severity for errors (warnings, infos and hints are higher)
const { document, diagnostics } = await new Parser().parse(readFileSync(process.argv[2], "utf8"));
const errors = diagnostics.filter((d) => d.severity === ERROR);
for (const d of errors) console.log(`${d.code}: ${d.message} at ${d.path.join("/")}`);
process.exit(document && errors.length === 0 ? 0 : 1);
