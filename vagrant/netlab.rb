# The lab as the Vagrantfile builds it, read from the project's inventory: the
# machines (names, groups, lab IPs), the lab network and its MTU, and the
# Vagrant settings (environment variables). Plain Ruby, no Vagrant: the unit
# tests run it on its own (`ruby vagrant/netlab.rb` prints the plan as JSON).
#
# Settings (environment variables, all optional):
#   NETLAB_VAGRANT_INVENTORY  inventory directory to read (default inventory/lab): its
#                             hosts.yml and group_vars, which the provisioner uses
#   NETLAB_LAB_NETWORK        move the lab to another network of the same size, e.g.
#                             192.168.56.0/24 for VirtualBox: every lab IP keeps its
#                             host part (192.168.1.129 -> 192.168.56.129)
#   NETLAB_VAGRANT_DEPOT      yes: a depot machine serves the artifacts built on this
#                             machine (the default); no: the nodes use the official
#                             downloads and Docker Hub (VMs with internet access)
#   NETLAB_VM_MEMORY, NETLAB_VM_CPUS                 every VM's memory (MiB) and CPUs
#   NETLAB_VM_MEMORY_<NAME>, NETLAB_VM_CPUS_<NAME>   one machine's (e.g. _NODE1)
#   NETLAB_CACHE              where the Kubernetes mirror was built (the depot serves it)
require "ipaddr"
require "json"
require "socket"
require "yaml"

module Netlab
  ROOT = File.expand_path("..", __dir__)

  # A bad setting: one sentence, raised before any machine is touched.
  class SettingError < StandardError; end

  Machine = Struct.new(:name, :groups, :lab_ip, :host_vars, :memory, :cpus, keyword_init: true) do
    def depot?
      groups.include?("services")
    end

    def to_h
      super.merge(depot: depot?)
    end
  end

  # Memory (MiB) a VM gets unless a setting says otherwise: the control plane runs
  # etcd and the API server; the depot only serves files and images.
  DEFAULT_MEMORY = { control_plane: 2048, node: 1536, depot: 512 }.freeze
  DEFAULT_CPUS = 2

  class Plan
    attr_reader :inventory_dir, :lab_network, :mtu, :machines, :cache_dir

    def initialize(env = ENV, inventory_dir: nil)
      @env = env
      @inventory_dir = File.expand_path(inventory_dir || env["NETLAB_VAGRANT_INVENTORY"] || "inventory/lab", ROOT)
      hosts = YAML.safe_load(File.read(File.join(@inventory_dir, "hosts.yml")))
      lab = YAML.safe_load(File.read(File.join(@inventory_dir, "group_vars", "all", "lab.yml")))
      @inventory_network = IPAddr.new(lab.fetch("netlab_lab_network"))
      @lab_network = moved_network
      @mtu = Integer(lab.fetch("netlab_mtu"))
      facts = YAML.safe_load(File.read(File.join(@inventory_dir, "group_vars", "all", "netlab.yml")))
      @cache_dir = env["NETLAB_CACHE"].to_s.empty? ? facts.fetch("netlab_cache_dir") : env["NETLAB_CACHE"]
      @groups = {}
      @host_vars = {}
      walk(hosts.fetch("all"), "all")
      @machines = build_machines
    end

    # The inventory's groups, each with its hosts (children's hosts included), as
    # far as the plan has machines for them.
    def groups
      names = @machines.map(&:name)
      %w[nodes control_plane services].to_h { |g| [g, (@groups[g] || []).select { |h| names.include?(h) }] }
    end

    def depot
      @machines.find(&:depot?)
    end

    def lab_prefix
      @lab_network.prefix
    end

    # The lab network as Ansible writes it, e.g. 192.168.1.0/24.
    def lab_cidr
      "#{@lab_network}/#{lab_prefix}"
    end

    def netmask
      IPAddr.new("255.255.255.255").mask(lab_prefix).to_s
    end

    # The depot's synced folder: this machine's mirror, where artifact_mirror serves it.
    def mirror_source
      File.join(@cache_dir, "mirror")
    end

    def mirror_target
      Netlab.role_default("artifact_mirror", "artifact_mirror_dir")
    end

    def moved?
      @lab_network != @inventory_network
    end

    def to_h
      {
        inventory: @inventory_dir,
        lab_network: lab_cidr,
        mtu: @mtu,
        groups: groups,
        machines: @machines.map(&:to_h),
      }
    end

    private

    def walk(node, group)
      node ||= {}
      (node["hosts"] || {}).each do |host, vars|
        (@groups[group] ||= []) << host unless (@groups[group] || []).include?(host)
        @host_vars[host] = (@host_vars[host] || {}).merge(vars || {})
      end
      (node["children"] || {}).each do |child, sub|
        walk(sub, child)
        (@groups[group] ||= []).concat((@groups[child] || []).reject { |h| @groups[group].include?(h) })
      end
    end

    def moved_network
      wanted = @env["NETLAB_LAB_NETWORK"].to_s
      return @inventory_network if wanted.empty?

      begin
        net = IPAddr.new(wanted)
      rescue IPAddr::Error
        raise SettingError, "NETLAB_LAB_NETWORK=#{wanted} is not a network (write it like 192.168.56.0/24)."
      end
      unless net.ipv4? && wanted.include?("/") && net.prefix == @inventory_network.prefix
        raise SettingError, "NETLAB_LAB_NETWORK=#{wanted} must be an IPv4 network of the inventory's size, " \
                            "/#{@inventory_network.prefix} (the inventory's lab network is " \
                            "#{@inventory_network}/#{@inventory_network.prefix})."
      end
      net
    end

    # The address with the same host part in the (possibly moved) lab network.
    def lab_ip(host, ip)
      addr = IPAddr.new(ip)
      unless @inventory_network.include?(addr)
        raise SettingError, "#{host}'s netlab_lab_ip #{ip} is outside the lab network " \
                            "#{@inventory_network}/#{@inventory_network.prefix}."
      end
      IPAddr.new(@lab_network.to_i | (addr.to_i & host_mask), Socket::AF_INET).to_s
    end

    def host_mask
      (1 << (32 - @inventory_network.prefix)) - 1
    end

    def depot_wanted
      case @env["NETLAB_VAGRANT_DEPOT"].to_s.downcase
      when "", "yes", "true", "1" then true
      when "no", "false", "0" then false
      else raise SettingError, "NETLAB_VAGRANT_DEPOT=#{@env['NETLAB_VAGRANT_DEPOT']} must be yes or no."
      end
    end

    def setting(name, host, default)
      value = @env["#{name}_#{host.upcase}"].to_s
      value = @env[name].to_s if value.empty?
      return default if value.empty?
      Integer(value, 10).tap { |v| raise ArgumentError unless v.positive? }
    rescue ArgumentError
      raise SettingError, "#{name} for #{host} is #{value}: it must be a whole number above 0."
    end

    def build_machines
      services = depot_wanted ? (@groups["services"] || []) : []
      nodes = @groups["nodes"] || []
      # The depot first: it must serve before the nodes are provisioned. The
      # provisioner runs on the last machine, after every machine is up.
      (services + nodes).uniq.map do |host|
        vars = @host_vars.fetch(host, {})
        ip = vars["netlab_lab_ip"] or raise SettingError, "#{host} has no netlab_lab_ip in #{@inventory_dir}/hosts.yml."
        kind = if services.include?(host) then :depot
               elsif (@groups["control_plane"] || []).include?(host) then :control_plane
               else :node
               end
        groups = %w[nodes control_plane services].select { |g| (@groups[g] || []).include?(host) }
        Machine.new(
          name: host, groups: groups, lab_ip: lab_ip(host, ip),
          host_vars: vars.merge("netlab_lab_ip" => lab_ip(host, ip)),
          memory: setting("NETLAB_VM_MEMORY", host, DEFAULT_MEMORY[kind]),
          cpus: setting("NETLAB_VM_CPUS", host, DEFAULT_CPUS),
        )
      end
    end
  end

  # A plain (untemplated) default of one of the project's roles.
  def self.role_default(role, name)
    YAML.safe_load(File.read(File.join(ROOT, "roles", role, "defaults", "main.yml"))).fetch(name)
  end

  # The node-container run flags, read from the one place that states them
  # (roles/node_containers/defaults/main.yml), as `docker run` arguments.
  def self.node_container_args(defaults_file = File.join(ROOT, "roles/node_containers/defaults/main.yml"))
    d = YAML.safe_load(File.read(defaults_file))
    args = []
    args += d.fetch("node_containers_capabilities").map { |c| "--cap-add=#{c}" }
    args += d.fetch("node_containers_cap_drop").map { |c| "--cap-drop=#{c}" }
    args += d.fetch("node_containers_security_opts").map { |o| "--security-opt=#{o}" }
    args += d.fetch("node_containers_device_cgroup_rules").map { |r| "--device-cgroup-rule=#{r}" }
    args += d.fetch("node_containers_devices").map { |dev| "--device=#{dev}" }
    args += d.fetch("node_containers_tmpfs").map { |t| "--tmpfs=#{t}" }
    args << "--cgroupns=#{d.fetch('node_containers_cgroupns')}"
    args << "--stop-signal=#{d.fetch('node_containers_stop_signal')}"
    args += d.fetch("node_containers_env").map { |k, v| "--env=#{k}=#{v}" }
    args << "--pids-limit=#{d.fetch('node_containers_pids_limit')}"
    # The label is a lab-wide fact (the role's default only points at it).
    facts = YAML.safe_load(File.read(File.join(ROOT, "inventory", "lab", "group_vars", "all", "netlab.yml")))
    { args: args, command: d.fetch("node_containers_command"), label: facts.fetch("netlab_lab_label"),
      network: d.fetch("node_containers_network") }
  end

  # VirtualBox allows host-only networks only in the ranges /etc/vbox/networks.conf
  # lists (lines "* 10.0.0.0/8 192.168.0.0/16"), 192.168.56.0/21 without that file.
  def self.virtualbox_allows?(network, prefix, conf = "/etc/vbox/networks.conf")
    ranges = if File.exist?(conf)
               File.readlines(conf).grep(/^\s*\*/).flat_map { |l| l.split.drop(1) }
             else
               ["192.168.56.0/21"]
             end
    ranges.any? do |r|
      range = IPAddr.new(r)
      range.include?(network) && range.prefix <= prefix
    rescue IPAddr::Error
      false
    end
  end
end

if $PROGRAM_NAME == __FILE__
  begin
    puts JSON.pretty_generate(Netlab::Plan.new.to_h)
  rescue Netlab::SettingError => e
    warn e.message
    exit 2
  end
end
