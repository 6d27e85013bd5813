using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using LiveUpdateFs.Tests.Integration;

namespace LiveUpdateFs.Tests.Layers;

/// <summary>
/// The layers of docs/design.md §1: each csproj's first comment names its
/// layer ("Layer N"); a project references only projects of lower layers,
/// never one beside or above it; and a built assembly uses only the projects
/// its csproj names (a use through a transitive reference compiles, and
/// would hide an arrow). The design's table says the same numbers.
/// </summary>
[TestFixture]
public sealed class ProjectLayerTests
{
    private static readonly Regex LayerComment = new(@"<!--\s*Layer (\d+)\b");
    private static readonly Regex DesignRow = new(@"^\| (\d+) \| `(LiveUpdateFs\.\w+)` \|", RegexOptions.Multiline);

    /// <summary>The assemblies this test project references: all projects but the program itself.</summary>
    private static readonly Assembly[] Built =
    [
        typeof(global::LiveUpdateFs.Uapi.Errno).Assembly,
        typeof(global::LiveUpdateFs.Core.Sessions.Orchestrator).Assembly,
        typeof(global::LiveUpdateFs.Interop.SafeFd).Assembly,
        typeof(global::LiveUpdateFs.Store.StoreDirectory).Assembly,
        typeof(global::LiveUpdateFs.Fuse.LuoFileSystem).Assembly,
    ];

    private sealed record Project(string Name, int Layer, IReadOnlyList<string> References);

    private static readonly Dictionary<string, Project> Projects = LoadProjects();

    private static Dictionary<string, Project> LoadProjects()
    {
        var projects = new Dictionary<string, Project>();
        foreach (string csproj in Directory.GetFiles(Path.Combine(Repository.Root, "src"), "*.csproj", SearchOption.AllDirectories))
        {
            string name = Path.GetFileNameWithoutExtension(csproj);
            string text = File.ReadAllText(csproj);
            Match layer = LayerComment.Match(text);
            List<string> references = XDocument.Parse(text).Descendants("ProjectReference")
                .Select(r => Path.GetFileNameWithoutExtension((string)r.Attribute("Include")!)).ToList();
            projects[name] = new Project(name, layer.Success ? int.Parse(layer.Groups[1].Value) : -1, references);
        }
        return projects;
    }

    [Test]
    public void Every_project_names_its_layer()
    {
        Assert.That(Projects, Is.Not.Empty);
        Assert.That(Projects.Values.Where(p => p.Layer < 1).Select(p => p.Name), Is.Empty,
            "each csproj starts with a comment <!-- Layer N ... --> (docs/design.md §1)");
    }

    [Test]
    public void Project_references_point_down_only()
    {
        var wrong = new List<string>();
        foreach (Project project in Projects.Values)
        {
            foreach (string name in project.References)
            {
                if (!Projects.TryGetValue(name, out Project? referenced))
                    wrong.Add($"{project.Name} references {name}, which is no project under src/");
                else if (referenced.Layer >= project.Layer)
                    wrong.Add($"{project.Name} (layer {project.Layer}) references {name} (layer {referenced.Layer}): "
                        + (referenced.Layer == project.Layer ? "sideways" : "up"));
            }
        }
        Assert.That(wrong, Is.Empty, "docs/design.md §1: a project references only lower layers");
    }

    [Test]
    public void Assemblies_use_only_the_projects_they_reference()
    {
        var wrong = new List<string>();
        foreach (Assembly assembly in Built)
        {
            string name = assembly.GetName().Name!;
            Assert.That(Projects, Does.ContainKey(name));
            foreach (string used in ReferencedAssemblies(assembly).Where(Projects.ContainsKey))
            {
                if (!Projects[name].References.Contains(used))
                    wrong.Add($"{name} uses {used} without a ProjectReference to it");
            }
        }
        Assert.That(wrong, Is.Empty, "docs/design.md §1: each project names every project it uses");
    }

    /// <summary>The assembly references in <paramref name="assembly"/>'s
    /// metadata (its file beside this test's): the compiler records one only
    /// for an assembly whose types it uses.</summary>
    private static List<string> ReferencedAssemblies(Assembly assembly)
    {
        using var pe = new PEReader(File.OpenRead(Path.Combine(AppContext.BaseDirectory, assembly.GetName().Name + ".dll")));
        MetadataReader metadata = pe.GetMetadataReader();
        return metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).ToList();
    }

    [Test]
    public void The_design_document_states_the_same_layers()
    {
        string design = File.ReadAllText(Path.Combine(Repository.Root, "docs/design.md"));
        Dictionary<string, int> documented = DesignRow.Matches(design).ToDictionary(m => m.Groups[2].Value, m => int.Parse(m.Groups[1].Value));
        Assert.That(documented, Is.EquivalentTo(Projects.Values.ToDictionary(p => p.Name, p => p.Layer)),
            "the table of docs/design.md §1 and the csproj comments name the same layers");
    }
}
