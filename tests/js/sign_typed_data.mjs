// Signs EIP-712 typed data the way a browser wallet does, with ethers v6 (not bondledger's code):
//   node sign_typed_data.mjs PRIVATE_KEY < typed-data.json   ->  0x signature on stdout
// The input is what `bondledger instruction show ID --typed-data` (or `cash allow --typed-data`)
// prints; ethers takes the types without EIP712Domain, which it derives from the domain itself.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

// Resolved as CommonJS so the repository's node_modules (or NODE_PATH) is searched.
const require = createRequire(import.meta.url);
const { Wallet } = require("ethers");

const [key] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(0, "utf8"));
const types = { ...doc.types };
delete types.EIP712Domain;
const signature = await new Wallet(key).signTypedData(doc.domain, types, doc.message);
process.stdout.write(signature + "\n");
