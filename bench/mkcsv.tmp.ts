import { writeRecipientsCsv } from "./lib/context.js";
await writeRecipientsCsv(process.argv[2]!, Number(process.argv[3]));
