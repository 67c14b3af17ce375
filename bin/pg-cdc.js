#!/usr/bin/env node
// The pg-cdc command: the TypeScript sources, bundled on first use and rebuilt when they change (bin/launch.js).
import { launch } from './launch.js';

await launch();
