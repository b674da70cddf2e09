import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { isLoopback, startServer } from '../web/server.js';
import { nonNegativeInt, startBackend } from './options.js';

interface ServeArgs {
  model?: string;
  port: number;
  host: string;
  'allow-host'?: string[];
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Serve the page of a model of any family (translate, continue a prompt, read a sentence) with its attention explorer and the training studio, to open in a browser',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'Model folder made by atencao train (any family); without it, the page trains its own (the Train view)' })
      .option('port', { type: 'number', default: 8080, describe: 'Port (0: any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every network interface)' })
      .option('allow-host', { type: 'string', array: true, describe: 'Another name the page is reached by, e.g. behind a reverse proxy (requests naming any other host are refused)' })
      .example('$0 serve --model models/pt-en', 'then open http://127.0.0.1:8080/')
      .example('$0 serve', 'the training studio alone: train a model in the browser, watch its attention form, download it')
      .example('$0 serve --model models/gpt-pt --port 8081', 'a decoder: the page continues prompts')
      .example('$0 serve --model models/bert-referent --port 0', 'an encoder: the page reads sentences, [MASK] allowed; any free port')
      .example('$0 serve --model models/pt-en --host 0.0.0.0 --allow-host atencao.example.org', 'reachable from the network, and by the name a proxy forwards'),
  handler: async (args) => {
    const port = nonNegativeInt('port', args.port)!;
    if (port > 65535) throw new UsageError(`--port (${port}) must be at most 65535`);
    await startBackend('auto', true); // the model is checked by loading it once
    let server;
    try {
      server = await startServer({ model: args.model, port, host: args.host, allowedHosts: (args['allow-host'] ?? []).map(String) });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${port} is already in use; choose another with --port`);
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`cannot listen on host '${args.host}'`);
      if (code === 'EACCES') throw new UsageError(`not allowed to listen on port ${port}; choose one above 1023`);
      throw error;
    }
    if (!isLoopback(args.host)) {
      process.stderr.write(`warning: listening on ${args.host}, not only on this machine: anyone who can reach it can use the page and download the model files\n`);
    }
    process.stderr.write(`serving ${args.model ?? 'the training studio'} at ${server.url} (Ctrl-C to stop)\n`);
    const stop = () => {
      // Whatever the clients do (a request held half-sent), the process is gone within a second.
      setTimeout(() => process.exit(0), 1000).unref();
      void server.close().then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
};
