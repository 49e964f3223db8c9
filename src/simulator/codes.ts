import type { Random } from "./prng.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
export const CODE_LENGTH = 16;

/**
 * Points Codes are single-use, so two requests must never receive the same code, even when the
 * seeded stream happens to repeat a draw.
 */
export class CodeGenerator {
  private readonly issued = new Set<string>();

  constructor(private readonly random: Random) {}

  next(): string {
    for (;;) {
      let code = "";
      for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[Math.floor(this.random() * ALPHABET.length)];
      if (!this.issued.has(code)) {
        this.issued.add(code);
        return code;
      }
    }
  }
}
