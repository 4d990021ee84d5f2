// Names of the ports that show up most in VPC traffic, to label charts ("443 https").
export const PORT_NAMES: Record<string, string> = {
  "20": "ftp-data",
  "21": "ftp",
  "22": "ssh",
  "23": "telnet",
  "25": "smtp",
  "53": "dns",
  "67": "dhcp",
  "80": "http",
  "110": "pop3",
  "123": "ntp",
  "135": "msrpc",
  "137": "netbios",
  "139": "netbios",
  "143": "imap",
  "161": "snmp",
  "389": "ldap",
  "443": "https",
  "445": "smb",
  "465": "smtps",
  "514": "syslog",
  "587": "submission",
  "636": "ldaps",
  "993": "imaps",
  "1433": "mssql",
  "1521": "oracle",
  "2049": "nfs",
  "2379": "etcd",
  "3306": "mysql",
  "3389": "rdp",
  "5432": "postgres",
  "5439": "redshift",
  "5601": "kibana",
  "5671": "amqps",
  "5672": "amqp",
  "5900": "vnc",
  "6379": "redis",
  "6443": "k8s-api",
  "8080": "http-alt",
  "8443": "https-alt",
  "9092": "kafka",
  "9200": "elastic",
  "11211": "memcached",
  "27017": "mongodb",
};

export function portLabel(port: string): string {
  const name = PORT_NAMES[port];
  return name ? `${port} ${name}` : port;
}

const PORT_FIELDS = new Set(["srcport", "dstport"]);

/** A chart label for a value of `field`. */
export function valueLabel(field: string): (key: string) => string {
  return PORT_FIELDS.has(field) ? portLabel : (k) => k;
}
