// Runs the fauxqs SQS emulator in its own process (fauxqs is ESM-only, and a separate process can be
// killed and restarted like a real service). Prints one JSON line with the bound port, then serves
// until SIGINT/SIGTERM.
import { startFauxqs } from "fauxqs";

const port = Number(process.env.FAUXQS_PORT ?? 0);
const server = await startFauxqs({ port, logger: false });
process.stdout.write(`${JSON.stringify({ ready: true, port: server.port })}\n`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
