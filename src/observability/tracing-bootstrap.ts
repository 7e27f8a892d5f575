/**
 * Side-effect module: starts OpenTelemetry on import. `src/main.ts` imports it before anything
 * else so that http, express and undici are patched when they are first required.
 */
import { startTracing } from './tracing.js';

startTracing();
