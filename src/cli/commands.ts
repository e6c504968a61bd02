/** The CLI's commands. Each lives in its own module; this list is the only place they meet. */
import type { Command } from './args.js';
import { benchCommand } from './bench.js';
import { probeCommand } from './probe.js';
import { tourCommand } from './tour.js';
import { tuneCommand } from './tune.js';
import { validateCommand } from './validate.js';

export const COMMANDS: Command[] = [tourCommand, probeCommand, validateCommand, benchCommand, tuneCommand];
export const DEFAULT_COMMAND = 'tour';
