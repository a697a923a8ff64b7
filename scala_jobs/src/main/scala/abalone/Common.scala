package abalone

import java.io.File
import java.nio.charset.StandardCharsets
import java.nio.file.{Files, Paths, StandardCopyOption}
import java.util.UUID

import org.apache.spark.sql.{Column, DataFrame, SparkSession}
import org.apache.spark.sql.functions._

/** The data contract shared by the three jobs (docs/ARCHITECTURE.md "Data contract of the processing jobs"). */
object Contract {
  val Categories: Seq[String] = Seq("F", "I", "M") // alphabetAsc, fixed: an unknown sex is all zeros
  val SexCodes: Seq[(String, Int)] = Seq("F" -> 1, "I" -> 2, "M" -> 3)
  val Numeric: Seq[String] =
    Seq("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")
  val RawColumns: Seq[String] = ("sex" +: Numeric) :+ "rings"
  val OneHot: Seq[String] = Categories.map(c => s"sex_$c")
  val Features: Seq[String] = OneHot ++ Numeric
  val Columns: Seq[String] = ("rings" +: Features) ++ Seq("split", "row_hash")
  val Splits: Seq[String] = Seq("train", "validation", "test")
}

/** The input does not match the contract (missing column, unparsable value, no rows). */
class InputDataException(message: String) extends IllegalArgumentException(message)

/** `--name value` arguments with defaults; an unknown option or a missing value is an error naming it. */
final class Args(argv: Array[String], defaults: Map[String, String]) {
  private val values: Map[String, String] = {
    require(argv.length % 2 == 0 || argv.isEmpty, s"arguments must be --name value pairs, got: ${argv.mkString(" ")}")
    argv.grouped(2).map {
      case Array(k, v) if k.startsWith("--") && defaults.contains(k.drop(2)) => k.drop(2) -> v
      case Array(k, _) =>
        throw new IllegalArgumentException(s"unknown option $k; expected one of ${defaults.keys.toSeq.sorted.map("--" + _).mkString(", ")}")
      case other => throw new IllegalArgumentException(s"option ${other.mkString} has no value")
    }.toMap
  }
  def apply(name: String): String = values.getOrElse(name, defaults(name))
  def double(name: String): Double =
    apply(name).toDoubleOption.getOrElse(throw new IllegalArgumentException(s"--$name: expected a number, got ${apply(name)}"))
  def int(name: String): Int =
    apply(name).toIntOption.getOrElse(throw new IllegalArgumentException(s"--$name: expected an integer, got ${apply(name)}"))
}

object Io {
  def localPath(path: String): String = if (path.startsWith("file://")) path.stripPrefix("file://") else path

  /** Session from the submitter's config (no master here); few shuffle partitions unless configured. */
  def session(app: String): SparkSession = {
    val spark = SparkSession.builder().appName(app).getOrCreate()
    if (!spark.sparkContext.getConf.contains("spark.sql.shuffle.partitions"))
      spark.conf.set("spark.sql.shuffle.partitions", math.max(2, spark.sparkContext.defaultParallelism).toString)
    spark
  }

  /** Data file names of a file or folder (hidden and `_` files ignored). */
  def dataFiles(path: String): Seq[String] = {
    val f = new File(localPath(path))
    if (f.isFile) Seq(f.getName)
    else if (f.isDirectory) f.list().toSeq.filterNot(n => n.startsWith(".") || n.startsWith("_"))
    else Seq.empty
  }

  def isParquet(path: String): Boolean = {
    val names = dataFiles(path)
    names.nonEmpty && names.forall(_.endsWith(".parquet"))
  }

  def checkDestination(path: String): Unit = {
    val f = new File(localPath(path))
    if (f.exists && (!f.isDirectory || f.list().nonEmpty))
      throw new IllegalStateException(s"output $path already exists and is not an empty folder; refusing to overwrite it")
  }

  /** Write into a hidden sibling folder, then move the part files in: no half-written output. */
  def writeAtomically(df: DataFrame, path: String, format: String): Unit = {
    val dest = new File(localPath(path)).getAbsoluteFile
    dest.getParentFile.mkdirs()
    val staging = new File(dest.getParentFile, s".${dest.getName}.staging-${UUID.randomUUID().toString.take(8)}")
    try {
      df.write.mode("errorifexists").option("header", "false").format(format).save("file://" + staging.getPath)
      dest.mkdirs()
      staging.list().sorted.filter(_.startsWith("part-")).foreach { n =>
        Files.move(new File(staging, n).toPath, new File(dest, n).toPath, StandardCopyOption.ATOMIC_MOVE)
      }
    } finally deleteTree(staging)
  }

  private def deleteTree(f: File): Unit = {
    if (f.isDirectory) Option(f.listFiles()).toSeq.flatten.foreach(deleteTree)
    f.delete()
  }

  /** Write a text file atomically (temp file + rename). */
  def writeText(folder: String, name: String, text: String): String = {
    val dir = new File(localPath(folder))
    dir.mkdirs()
    val tmp = File.createTempFile(s".$name.", ".tmp", dir)
    Files.write(tmp.toPath, text.getBytes(StandardCharsets.UTF_8))
    val target = new File(dir, name)
    Files.move(tmp.toPath, target.toPath, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
    target.getPath
  }

  /** SageMaker shows this file's content as the job's ExitMessage. */
  def writeMessage(path: String, message: String): Unit =
    try {
      Option(new File(path).getAbsoluteFile.getParentFile).foreach(_.mkdirs())
      Files.write(Paths.get(path), (message.replace("\n", " ").take(1024) + "\n").getBytes(StandardCharsets.UTF_8))
    } catch { case e: Exception => log(s"WARN could not write the failure message to $path: $e") }

  def log(message: String): Unit = System.err.println(s"${java.time.LocalDateTime.now} abalone: $message")

  /** A session some caller already runs (a test's shared JVM): a job uses it and leaves it running. */
  def sharedSession: Boolean = SparkSession.getActiveSession.isDefined || SparkSession.getDefaultSession.isDefined

  /** Run `body` in a Spark session; bad input returns 1 with a one-line message file (the container's contract). */
  def runJob(app: String, messageFile: String)(body: SparkSession => Unit): Int = {
    val shared = sharedSession
    val spark = session(app)
    try { body(spark); 0 } catch {
      case e @ (_: InputDataException | _: IllegalStateException) =>
        log(s"ERROR ${e.getMessage}")
        writeMessage(messageFile, e.getMessage)
        1
    } finally if (!shared) spark.stop()
  }

  /** A job's `main`: its exit code as the process's (spark-submit); `exec` returns it (tests in one JVM). */
  def exit(code: Int): Unit = if (code != 0) sys.exit(code)

  /** Minimal JSON for the reports (numbers, strings, booleans, maps, sequences). */
  def json(value: Any, indent: String = ""): String = {
    val next = indent + "  "
    value match {
      case null                      => "null"
      case s: String                 => "\"" + s.flatMap {
          case '"' => "\\\""; case '\\' => "\\\\"; case '\n' => "\\n"; case c if c < ' ' => f"\\u${c.toInt}%04x"; case c => c.toString
        } + "\""
      case b: Boolean                => b.toString
      case d: Double if d.isNaN || d.isInfinite => "null"
      case n: Number                 => n.toString
      case m: Map[_, _] if m.isEmpty => "{}"
      case m: Map[_, _] =>
        m.toSeq.map { case (k, v) => k.toString -> v }.sortBy(_._1)
          .map { case (k, v) => s"$next${json(k)}: ${json(v, next)}" }.mkString("{\n", ",\n", s"\n$indent}")
      case s: Seq[_] if s.isEmpty => "[]"
      case s: Seq[_]              => s.map(v => next + json(v, next)).mkString("[\n", ",\n", s"\n$indent]")
      case other                  => json(other.toString, indent)
    }
  }
}
