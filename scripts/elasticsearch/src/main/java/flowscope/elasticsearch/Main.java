package flowscope.elasticsearch;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.CountDownLatch;

import org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner;
import org.elasticsearch.cluster.health.ClusterHealthStatus;

/**
 * Starts one real Elasticsearch 7.10 node inside this JVM, for flowscope's tests and demo.
 *
 * <p>Cluster {@code flowscope-test}, HTTP and transport bound to 127.0.0.1 only, no security
 * plugin (plain HTTP, no auth). Prints {@code READY http://127.0.0.1:PORT} once the cluster is
 * yellow or green; closes the node on SIGTERM/SIGINT and prints {@code STOPPED}.
 *
 * <pre>
 * Main [--port P] [--transport-port T] [--data DIR]
 *   --port            HTTP port; default $ELASTICSEARCH_PORT or 9200
 *   --transport-port  transport port; default 0 (any free port; single-node needs no fixed one)
 *   --data            base dir for the node's config/, data/, logs/; default $ELASTICSEARCH_DATA
 *                     or .cache/elasticsearch/node
 * </pre>
 */
public final class Main {
    static final String CLUSTER_NAME = "flowscope-test";
    static final String HOST = "127.0.0.1";

    private Main() {}

    public static void main(final String[] args) throws Exception {
        // Our shutdown hook closes the node and then log4j; log4j's own hook would race it.
        System.setProperty("log4j.shutdownHookEnabled", "false");
        int port = intEnv("ELASTICSEARCH_PORT", 9200);
        String transportPort = "0";
        String data = envOr("ELASTICSEARCH_DATA", ".cache/elasticsearch/node");
        for (int i = 0; i < args.length; i++) {
            final String a = args[i];
            if (("--port".equals(a) || "--transport-port".equals(a) || "--data".equals(a)) && i + 1 >= args.length) {
                usage("missing value for " + a);
            }
            switch (a) {
                case "--port": port = Integer.parseInt(args[++i]); break;
                case "--transport-port": transportPort = args[++i]; break;
                case "--data": data = args[++i]; break;
                case "-h": case "--help": usage(null); break;
                default: usage("unknown argument: " + a);
            }
        }
        final Path base = Paths.get(data).toAbsolutePath();
        final int httpPort = port;
        final String tPort = transportPort;

        final ElasticsearchClusterRunner runner = new ElasticsearchClusterRunner();
        runner.setMaxHttpPort(-1); // use http.port as given; never probe for another one
        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final Exception e) {
                System.err.println("error while stopping: " + e);
            }
            System.out.println("STOPPED");
            System.out.flush();
            org.apache.logging.log4j.LogManager.shutdown();
            closed.countDown();
        }, "flowscope-elasticsearch-shutdown"));

        try {
            runner.onBuild((number, settings) -> {
                settings.put("network.host", HOST);
                settings.put("http.port", String.valueOf(httpPort));
                settings.put("transport.port", tPort);
                settings.put("discovery.type", "single-node");
                settings.put("node.name", "flowscope-node");
                settings.putList("node.roles", "master", "data", "ingest");
                settings.put("bootstrap.memory_lock", false);
                // A nearly full CI disk must not flip indices to read-only mid-test.
                settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
            }).build(ElasticsearchClusterRunner.newConfigs()
                    .clusterName(CLUSTER_NAME)
                    .numOfNode(1)
                    .baseHttpPort(httpPort - 1) // the runner names node N's port base+N
                    .basePath(base.toString())
                    .printOnFailure());
            final ClusterHealthStatus health = runner.ensureYellow();
            System.out.println("health " + health);
            System.out.println("READY http://" + HOST + ":" + httpPort);
            System.out.flush();
        } catch (final Throwable t) {
            System.err.println("FAILED to start Elasticsearch: " + t);
            t.printStackTrace();
            System.err.flush();
            Runtime.getRuntime().halt(1);
        }
        closed.await();
    }

    private static String envOr(final String name, final String dflt) {
        final String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    private static int intEnv(final String name, final int dflt) {
        return Integer.parseInt(envOr(name, String.valueOf(dflt)));
    }

    private static void usage(final String error) {
        if (error != null) {
            System.err.println(error);
        }
        System.err.println("usage: Main [--port P] [--transport-port T] [--data DIR]");
        System.exit(error == null ? 0 : 2);
    }
}
